output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_arns" {
  description = "ARNs of the module's alarms, by name."
  value = {
    server_busy_rate        = aws_cloudwatch_metric_alarm.server_busy_rate.arn
    failed_300              = aws_cloudwatch_metric_alarm.failed_300.arn
    counter_drift           = aws_cloudwatch_metric_alarm.counter_drift.arn
    edge_memory_per_session = aws_cloudwatch_metric_alarm.edge_memory_per_session.arn
    no_healthy_edge_tasks   = aws_cloudwatch_metric_alarm.no_healthy_edge_tasks.arn
    peer_link_key_refused   = aws_cloudwatch_metric_alarm.peer_link_key_refused.arn
  }
}
