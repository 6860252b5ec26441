output "name" {
  description = "Name of the pool."
  value       = var.name
}

output "config_item" {
  description = "The pool's configuration item as written (DynamoDB JSON)."
  value       = aws_dynamodb_table_item.config.item
}
