# The sweep runs on a schedule: expired leases of crashed edges, inactivity
# logouts and the counter recount.
resource "aws_cloudwatch_event_rule" "this" {
  name                = "${var.name_prefix}-sweep"
  description         = "collabgw sweep"
  schedule_expression = var.sweep_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule = aws_cloudwatch_event_rule.this.name
  arn  = aws_lambda_function.this["sweep"].arn
}

resource "aws_lambda_permission" "this" {
  statement_id  = "AllowSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["sweep"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}

# The schedule invokes the sweep asynchronously. A failed or throttled sweep
# is not retried: the next one, a minute later, does the same work on fresher
# data, and retries would only pile up behind it.
resource "aws_lambda_function_event_invoke_config" "sweep" {
  function_name                = aws_lambda_function.this["sweep"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}
