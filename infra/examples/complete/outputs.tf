output "region" {
  description = "The region of the deployment."
  value       = var.region
}

output "load_balancer_dns_name" {
  description = "Where devices connect (port 3101)."
  value       = module.edge.load_balancer_dns_name
}

output "table_name" {
  description = "The collabgw table (collabgw admin --table)."
  value       = module.data.table_name
}

output "function_names" {
  description = "The Lambda functions, by manifest name."
  value       = module.functions.function_names
}

output "ecr_repository_url" {
  description = "Push the edge image here (collabgw image --push), then set edge_image_digest."
  value       = module.edge.ecr_repository_url
}

output "edge_image" {
  description = "The image the edge tasks run, by digest."
  value       = module.edge.image
}

output "key_secret_names" {
  description = "The Secrets Manager secrets the edge reads its keys from (gateway, peer)."
  value       = local.key_secret_names
}

output "alarm_topic_arn" {
  description = "The SNS topic every alarm notifies; subscribe whoever must act."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard (docs/operations.md explains each panel and alarm)."
  value       = module.monitoring.dashboard_name
}
