output "load_balancer_dns_name" {
  description = "DNS name of the Network Load Balancer; devices connect to it on port 3101."
  value       = aws_lb.this.dns_name
}

output "load_balancer_arn" {
  description = "ARN of the Network Load Balancer."
  value       = aws_lb.this.arn
}

output "ecr_repository_url" {
  description = "URL of the ECR repository to push the edge image to."
  value       = aws_ecr_repository.this.repository_url
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_role_arn" {
  description = "ARN of the edge tasks' IAM role."
  value       = aws_iam_role.task.arn
}

output "task_security_group_id" {
  description = "Security group of the edge tasks."
  value       = aws_security_group.task.id
}
