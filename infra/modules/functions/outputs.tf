output "function_names" {
  description = "Name of each function, by manifest name (authorize, release, sweep)."
  value       = { for name, fn in aws_lambda_function.this : name => fn.function_name }
}

output "function_arns" {
  description = "ARN of each function, by manifest name."
  value       = { for name, fn in aws_lambda_function.this : name => fn.arn }
}

output "role_arns" {
  description = "ARN of each function's IAM role, by manifest name."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "log_group_names" {
  description = "Name of each function's log group, by manifest name."
  value       = { for name, group in aws_cloudwatch_log_group.this : name => group.name }
}

output "alarm_arns" {
  description = "ARNs of the module's alarms (errors of each function, sweep throttles)."
  value       = concat([for a in aws_cloudwatch_metric_alarm.errors : a.arn], [aws_cloudwatch_metric_alarm.sweep_throttles.arn])
}

output "package_files" {
  description = "The deployment zip each function was created from, by manifest name (as given: relative paths keep the state machine-independent)."
  value       = { for name, fn in aws_lambda_function.this : name => fn.filename }
}
