output "load_balancer_dns_name" {
  description = "Where devices connect (port 3101)."
  value       = module.edge.load_balancer_dns_name
}

output "table_name" {
  description = "The collabgw table."
  value       = module.data.table_name
}

output "function_names" {
  description = "The Lambda functions, by manifest name."
  value       = module.functions.function_names
}

output "ecr_repository_url" {
  description = "Push the edge image here, tagged edge_image_tag."
  value       = module.edge.ecr_repository_url
}

output "dashboard_name" {
  description = "The CloudWatch dashboard (docs/operations.md explains each panel and alarm)."
  value       = module.monitoring.dashboard_name
}
