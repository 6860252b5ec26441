# The alarms of docs/operations.md. Metric names come from the Go catalog
# (internal/metrics); infra/infratest fails when they drift apart. Lambda
# errors and throttles are alarmed in modules/functions, edge memory
# utilisation and unhealthy targets in modules/edge; they are not repeated
# here.
locals {
  namespace = "collabgw"
}

# More than server_busy_rate_percent of the logins over 5 minutes answered
# SERVER_BUSY: the pool is full and nothing idle can be evicted.
resource "aws_cloudwatch_metric_alarm" "server_busy_rate" {
  alarm_name          = "${var.name_prefix}-server-busy-rate"
  alarm_description   = "collabgw: more than ${var.server_busy_rate_percent}% of logins answered SERVER_BUSY over 5 minutes (docs/operations.md#server-busy-rate)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.server_busy_rate_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id = "busy"
    metric {
      namespace   = local.namespace
      metric_name = "LoginAttempts"
      dimensions  = { Outcome = "SERVER_BUSY" }
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id = "all"
    metric {
      namespace   = local.namespace
      metric_name = "LoginAttempts"
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id          = "rate"
    expression  = "IF(FILL(all, 0) >= ${var.server_busy_min_logins}, 100 * FILL(busy, 0) / all, 0)"
    label       = "SERVER_BUSY % of logins"
    return_data = true
  }
}

# Any FAILED_300: a pool without a maximum reached the GroupWise protocol
# limit; users are being turned away at the server's own capacity.
resource "aws_cloudwatch_metric_alarm" "failed_300" {
  alarm_name          = "${var.name_prefix}-failed-300"
  alarm_description   = "collabgw: a login was answered FAILED_300, a pool reached the GroupWise protocol limit (docs/operations.md#failed-300)"
  namespace           = local.namespace
  metric_name         = "LoginAttempts"
  dimensions          = { Outcome = "FAILED_300" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# The sweep found a counter that disagreed with the live sessions (either
# way). It repairs it, but drift means a bug or a manual edit.
resource "aws_cloudwatch_metric_alarm" "counter_drift" {
  alarm_name          = "${var.name_prefix}-counter-drift"
  alarm_description   = "collabgw: the sweep found a session counter different from the live sessions (docs/operations.md#counter-drift)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id = "high"
    metric {
      namespace   = local.namespace
      metric_name = "CounterDrift"
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "low"
    metric {
      namespace   = local.namespace
      metric_name = "CounterDrift"
      stat        = "Minimum"
      period      = 60
    }
  }
  metric_query {
    id          = "drift"
    expression  = "MAX([ABS(FILL(high, 0)), ABS(FILL(low, 0))])"
    label       = "largest counter drift"
    return_data = true
  }
}

# Memory per held session above the threshold, judged only while the tasks
# hold enough sessions for the per-session figure to mean something.
resource "aws_cloudwatch_metric_alarm" "edge_memory_per_session" {
  alarm_name          = "${var.name_prefix}-edge-memory-per-session"
  alarm_description   = "collabgw: edge memory per session above ${var.edge_bytes_per_session_threshold} bytes (docs/operations.md#edge-memory-per-session)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.edge_bytes_per_session_threshold
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id = "bytes"
    metric {
      namespace   = local.namespace
      metric_name = "EdgeBytesPerSession"
      stat        = "Average"
      period      = 300
    }
  }
  metric_query {
    id = "sessions"
    metric {
      namespace   = local.namespace
      metric_name = "EdgeSessionsHeld"
      stat        = "Average"
      period      = 300
    }
  }
  metric_query {
    id          = "judged"
    expression  = "IF(FILL(sessions, 0) >= ${var.edge_memory_min_sessions}, FILL(bytes, 0), 0)"
    label       = "bytes per session"
    return_data = true
  }
}

# No edge task passes its health check: devices cannot log in at all. No
# data counts as breaching: a load balancer without targets reports none.
resource "aws_cloudwatch_metric_alarm" "no_healthy_edge_tasks" {
  alarm_name          = "${var.name_prefix}-no-healthy-edge-tasks"
  alarm_description   = "collabgw: no edge task is healthy behind the load balancer (docs/operations.md#no-healthy-edge-tasks)"
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# Edge tasks refusing each other's task-to-task key: the tasks hold
# different keys (a rotation done out of order, or one task started with a
# stale secret), so a RESUME that lands on another task than its owner's is
# answered LOGGED_OUT and the device logs in to GroupWise again.
resource "aws_cloudwatch_metric_alarm" "peer_link_key_refused" {
  alarm_name          = "${var.name_prefix}-peer-link-key-refused"
  alarm_description   = "collabgw: edge tasks refuse each other's task-to-task key (docs/operations.md#peer-link-key-refused)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  metric_query {
    id = "unknown"
    metric {
      namespace   = local.namespace
      metric_name = "PeerLinksIn"
      dimensions  = { Reason = "unknown_key" }
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id = "bad"
    metric {
      namespace   = local.namespace
      metric_name = "PeerLinksIn"
      dimensions  = { Reason = "bad_key" }
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id          = "refused"
    expression  = "FILL(unknown, 0) + FILL(bad, 0)"
    label       = "task-to-task links refused for their key"
    return_data = true
  }
}
