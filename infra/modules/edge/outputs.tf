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

output "load_balancer_arn_suffix" {
  description = "ARN suffix of the Network Load Balancer (the LoadBalancer dimension of AWS/NetworkELB metrics)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the edge target group (the TargetGroup dimension of AWS/NetworkELB metrics)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "log_group_name" {
  description = "Name of the edge's log group (its JSON logs and EMF metrics)."
  value       = aws_cloudwatch_log_group.this.name
}

output "alarm_arns" {
  description = "ARNs of the module's alarms (memory utilisation, unhealthy targets)."
  value       = [aws_cloudwatch_metric_alarm.memory.arn, aws_cloudwatch_metric_alarm.unhealthy_targets.arn]
}

output "execution_role_arn" {
  description = "ARN of the edge tasks' execution role (pulls the image, reads the key secrets)."
  value       = aws_iam_role.execution.arn
}

output "image" {
  description = "The image the tasks run, by digest."
  value       = local.image
}
