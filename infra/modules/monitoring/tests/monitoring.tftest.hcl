mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
}

variables {
  name_prefix              = "collabgw"
  alarm_actions            = ["arn:aws:sns:eu-west-1:123456789012:collabgw-alarms"]
  function_names           = { authorize = "collabgw-authorize", release = "collabgw-release", sweep = "collabgw-sweep" }
  function_log_group_names = { authorize = "/aws/lambda/collabgw-authorize", release = "/aws/lambda/collabgw-release", sweep = "/aws/lambda/collabgw-sweep" }
  edge_log_group_name      = "/ecs/collabgw-edge"
  ecs_cluster_name         = "collabgw-edge"
  ecs_service_name         = "collabgw-edge"
  load_balancer_arn_suffix = "net/collabgw-edge/0123456789abcdef"
  target_group_arn_suffix  = "targetgroup/collabgw-edge/0123456789abcdef"
  pools = {
    main = { max_sessions = 500 }
    open = {}
  }
}

run "alarms_and_dashboard" {
  command = apply

  assert {
    condition = alltrue([for a in [
      aws_cloudwatch_metric_alarm.server_busy_rate, aws_cloudwatch_metric_alarm.failed_300, aws_cloudwatch_metric_alarm.counter_drift,
      aws_cloudwatch_metric_alarm.edge_memory_per_session, aws_cloudwatch_metric_alarm.no_healthy_edge_tasks,
      aws_cloudwatch_metric_alarm.peer_link_key_refused,
    ] : jsonencode(a.alarm_actions) == jsonencode(var.alarm_actions) && jsonencode(a.ok_actions) == jsonencode(var.alarm_actions)])
    error_message = "Every alarm notifies the SNS topic when it fires and when it recovers."
  }
  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.server_busy_rate.metric_query : q.expression if q.return_data == true]) == "IF(FILL(all, 0) >= 20, 100 * FILL(busy, 0) / all, 0)" && aws_cloudwatch_metric_alarm.server_busy_rate.threshold == 5
    error_message = "The SERVER_BUSY alarm is a rate over enough logins, above 5%."
  }
  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.server_busy_rate.metric_query : q.metric[0].dimensions.Outcome if q.id == "busy"]) == "SERVER_BUSY"
    error_message = "The SERVER_BUSY alarm counts SERVER_BUSY answers."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failed_300.dimensions.Outcome == "FAILED_300" && aws_cloudwatch_metric_alarm.failed_300.threshold == 0 && aws_cloudwatch_metric_alarm.failed_300.comparison_operator == "GreaterThanThreshold"
    error_message = "One FAILED_300 fires its alarm."
  }
  assert {
    condition     = strcontains(one([for q in aws_cloudwatch_metric_alarm.counter_drift.metric_query : q.expression if q.return_data == true]), "ABS(FILL(low, 0))")
    error_message = "Counter drift alarms in both directions."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.no_healthy_edge_tasks.treat_missing_data == "breaching" && aws_cloudwatch_metric_alarm.no_healthy_edge_tasks.comparison_operator == "LessThanThreshold" && aws_cloudwatch_metric_alarm.no_healthy_edge_tasks.threshold == 1
    error_message = "No healthy edge task (or no data) fires its alarm."
  }
  assert {
    condition = (jsonencode(sort([for q in aws_cloudwatch_metric_alarm.peer_link_key_refused.metric_query : q.metric[0].dimensions.Reason if length(q.metric) > 0])) == jsonencode(["bad_key", "unknown_key"])
    && aws_cloudwatch_metric_alarm.peer_link_key_refused.threshold == 0)
    error_message = "Any task-to-task link refused for its key (tasks holding different keys) fires its alarm."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.edge_memory_per_session.threshold == 65536
    error_message = "Edge memory per session alarms above 64 KiB by default."
  }
  assert {
    condition     = length(aws_cloudwatch_log_metric_filter.function_timeouts) == 3 && length(aws_cloudwatch_log_metric_filter.function_error_logs) == 3
    error_message = "Every function's log group has its metric filters."
  }
  assert {
    condition     = alltrue([for f in aws_cloudwatch_log_metric_filter.function_timeouts : strcontains(f.pattern, "Status: timeout")])
    error_message = "Timeouts are counted from the REPORT line current runtimes write (Status: timeout)."
  }
  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "collabgw-eu-west-1"
    error_message = "The dashboard name carries the region, so one deployment name can be used in two regions."
  }
  assert {
    condition     = alltrue([for f in aws_cloudwatch_log_metric_filter.function_error_logs : f.metric_transformation[0].dimensions.Function == "$.function"])
    error_message = "Function ERROR lines are counted by the function named in the line."
  }
  assert {
    condition = jsonencode(one([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.annotations.horizontal if can(w.properties.annotations)
    ])) == jsonencode([{ label = "main maximum", value = 500 }, { label = "open protocol limit", value = 5120 }])
    error_message = "Active sessions are drawn against each pool's maximum, or its protocol limit when it has none."
  }
  assert {
    condition     = length(one([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.alarms if w.type == "alarm"])) == 6
    error_message = "The dashboard shows the module's alarms."
  }
  assert {
    condition = alltrue([
      for title in ["Logins by outcome (authorize decisions)", "Active sessions vs maximum, by pool", "Sessions ended, by reason", "Latency percentiles (ms)", "Lambda errors", "Lambda duration p99 (ms)", "Edge CPU and memory (%)", "NLB active flows and healthy edge tasks"] :
      contains([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : try(w.properties.title, "")], title)
    ])
    error_message = "The dashboard has the panels the operators asked for."
  }
}

run "rejects_a_non_sns_alarm_action" {
  command = plan
  variables {
    alarm_actions = ["arn:aws:lambda:eu-west-1:123456789012:function:page-me"]
  }
  expect_failures = [var.alarm_actions]
}

run "rejects_missing_function" {
  command = plan
  variables {
    function_log_group_names = { authorize = "/aws/lambda/a" }
  }
  expect_failures = [var.function_log_group_names]
}

run "rejects_an_alb_suffix" {
  command = plan
  variables {
    load_balancer_arn_suffix = "app/collabgw/0123456789abcdef"
  }
  expect_failures = [var.load_balancer_arn_suffix]
}
