# Metrics EMF cannot give: an invocation the runtime kills at its timeout
# never flushes, and ERROR lines are counted whatever code wrote them.
# Patterns and names are the catalog's (internal/metrics).
resource "aws_cloudwatch_log_metric_filter" "function_timeouts" {
  for_each = var.function_log_group_names

  name           = "${var.name_prefix}-${each.key}-timeouts"
  log_group_name = each.value
  pattern        = "\"REPORT\" \"Status: timeout\""

  metric_transformation {
    namespace = local.namespace
    name      = "FunctionTimeouts"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_log_metric_filter" "function_error_logs" {
  for_each = var.function_log_group_names

  name           = "${var.name_prefix}-${each.key}-error-logs"
  log_group_name = each.value
  pattern        = "{ $.level = \"ERROR\" }"

  metric_transformation {
    namespace  = local.namespace
    name       = "FunctionErrorLogs"
    value      = "1"
    unit       = "Count"
    dimensions = { Function = "$.function" }
  }
}

resource "aws_cloudwatch_log_metric_filter" "edge_error_logs" {
  name           = "${var.name_prefix}-edge-error-logs"
  log_group_name = var.edge_log_group_name
  pattern        = "{ $.level = \"ERROR\" }"

  metric_transformation {
    namespace = local.namespace
    name      = "EdgeErrorLogs"
    value     = "1"
    unit      = "Count"
  }
}
