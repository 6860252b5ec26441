output "table_name" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "table_index_arns" {
  description = "ARN of each global secondary index, by index name."
  value       = { for name in keys(local.global_secondary_indexes) : name => "${aws_dynamodb_table.this.arn}/index/${name}" }
}

output "kms_key_arn" {
  description = "ARN of the customer-managed key that encrypts the table."
  value       = aws_kms_key.this.arn
}

output "kms_alias_name" {
  description = "Alias of the table key."
  value       = aws_kms_alias.this.name
}
