# The collabgw dashboard: every metric of the Go catalog (internal/metrics)
# and the AWS metrics of the parts it runs on. SEARCH expressions show
# every pool, outcome and reason that reported, including pools created
# with the admin CLI rather than Terraform.
data "aws_region" "current" {}

locals {
  region = data.aws_region.current.region

  # search renders a SEARCH expression over one collabgw metric, one line
  # per value of the dimensions named.
  search = {
    for k, v in {
      logins          = ["LoginAttempts", "Outcome", "Sum"]
      edge_logins     = ["EdgeLogins", "Outcome", "Sum"]
      edge_resumes    = ["EdgeResumes", "Outcome", "Sum"]
      active          = ["ActiveSessions", "Pool", "Maximum"]
      evictions       = ["Evictions", "Reason", "Sum"]
      edge_ended      = ["EdgeSessionsEnded", "Reason", "Sum"]
      gw_errors       = ["GroupWiseErrors", "ResultCode", "Sum"]
      rejected        = ["DeviceFramesRejected", "Reason", "Sum"]
      function_errors = ["FunctionErrors", "Function,ErrorType", "Sum"]
      error_logs      = ["FunctionErrorLogs", "Function", "Sum"]
      dropped         = ["MetricsDropped", "Reason", "Sum"]
      relayed         = ["RelayedResumes", "Reason", "Sum"]
      peer_in         = ["PeerLinksIn", "Reason", "Sum"]
      peer_out        = ["PeerLinksOut", "Reason", "Sum"]
      peer_drops      = ["PeerLinkDrops", "Reason", "Sum"]
    } : k => { expression = "SEARCH('{${local.namespace},${v[1]}} MetricName=\"${v[0]}\"', '${v[2]}', 60)", id = k, label = "" }
  }

  session_limits = [
    for name, pool in var.pools : {
      label = "${name} ${pool.max_sessions > 0 ? "maximum" : "protocol limit"}"
      value = pool.max_sessions > 0 ? pool.max_sessions : pool.protocol_limit
    }
  ]

  graphs = [
    {
      title   = "Logins by outcome (authorize decisions)"
      metrics = [[local.search.logins]]
    },
    {
      title   = "Device answers by outcome (edge: logins and resumes)"
      metrics = [[local.search.edge_logins], [local.search.edge_resumes]]
    },
    {
      title       = "Active sessions vs maximum, by pool"
      metrics     = [[local.search.active]]
      annotations = { horizontal = local.session_limits }
    },
    {
      title = "Sessions ended, by reason"
      metrics = [
        [local.search.evictions],
        [local.search.edge_ended],
        [local.namespace, "Releases", { stat = "Sum", label = "released" }],
      ]
    },
    {
      title = "Latency percentiles (ms)"
      metrics = [
        [local.namespace, "AdmissionLatency", { stat = "p50", label = "admission p50" }],
        [local.namespace, "AdmissionLatency", { stat = "p99", label = "admission p99" }],
        [local.namespace, "EdgeLoginLatency", { stat = "p99", label = "device login p99 (edge)" }],
        [local.namespace, "GroupWiseConnectLatency", { stat = "p99", label = "GroupWise connect p99" }],
        [local.namespace, "GroupWiseLoginLatency", { stat = "p99", label = "GroupWise login p99" }],
      ]
    },
    {
      title = "Counter drift found by the sweep"
      metrics = [
        [local.namespace, "CounterDrift", { stat = "Maximum", label = "drift (max)" }],
        [local.namespace, "CounterDrift", { stat = "Minimum", label = "drift (min)" }],
      ]
    },
    {
      title   = "GroupWise errors by result code"
      metrics = [[local.search.gw_errors]]
    },
    {
      title = "Device connections and rejections"
      metrics = [
        [local.search.rejected],
        [local.namespace, "EdgeConnections", { stat = "Maximum", label = "open connections (busiest task)", yAxis = "right" }],
      ]
    },
    {
      title = "Lambda errors"
      metrics = concat(
        [for fn, name in var.function_names : ["AWS/Lambda", "Errors", "FunctionName", name, { stat = "Sum", label = "${fn} errors" }]],
        [
          [local.search.function_errors],
          [local.search.error_logs],
          [local.namespace, "FunctionTimeouts", { stat = "Sum", label = "timeouts" }],
        ],
      )
    },
    {
      title   = "Lambda duration p99 (ms)"
      metrics = [for fn, name in var.function_names : ["AWS/Lambda", "Duration", "FunctionName", name, { stat = "p99", label = fn }]]
    },
    {
      title = "Edge CPU and memory (%)"
      metrics = [
        ["AWS/ECS", "CPUUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name, { stat = "Average", label = "CPU" }],
        ["AWS/ECS", "MemoryUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name, { stat = "Average", label = "memory" }],
        ["AWS/ECS", "MemoryUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name, { stat = "Maximum", label = "memory (busiest task)" }],
      ]
    },
    {
      title = "Edge sessions and memory per session"
      metrics = [
        [local.namespace, "EdgeSessionsHeld", { stat = "Maximum", label = "sessions (busiest task)" }],
        [local.namespace, "EdgeBytesPerSession", { stat = "Maximum", label = "bytes per session (worst task)", yAxis = "right" }],
        [local.namespace, "EdgeErrorLogs", { stat = "Sum", label = "edge ERROR lines" }],
      ]
    },
    {
      title = "NLB active flows and healthy edge tasks"
      metrics = [
        ["AWS/NetworkELB", "ActiveFlowCount", "LoadBalancer", var.load_balancer_arn_suffix, { stat = "Average", label = "active flows" }],
        ["AWS/NetworkELB", "NewFlowCount", "LoadBalancer", var.load_balancer_arn_suffix, { stat = "Sum", label = "new flows" }],
        ["AWS/NetworkELB", "HealthyHostCount", "LoadBalancer", var.load_balancer_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "Minimum", label = "healthy tasks", yAxis = "right" }],
        ["AWS/NetworkELB", "UnHealthyHostCount", "LoadBalancer", var.load_balancer_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "Maximum", label = "unhealthy tasks", yAxis = "right" }],
      ]
    },
    {
      title = "RESUME on another task (relayed to the owner), by reason"
      metrics = [
        [local.search.relayed],
        [local.namespace, "PeerLinkBytes", { stat = "Sum", label = "task-to-task bytes", yAxis = "right" }],
      ]
    },
    {
      title   = "Task-to-task links in, out and dropped, by reason"
      metrics = [[local.search.peer_in], [local.search.peer_out], [local.search.peer_drops]]
    },
    {
      title   = "Metric records dropped by the recorders"
      metrics = [[local.search.dropped]]
    },
  ]

  alarm_arns = concat(
    [
      aws_cloudwatch_metric_alarm.server_busy_rate.arn,
      aws_cloudwatch_metric_alarm.failed_300.arn,
      aws_cloudwatch_metric_alarm.counter_drift.arn,
      aws_cloudwatch_metric_alarm.edge_memory_per_session.arn,
      aws_cloudwatch_metric_alarm.no_healthy_edge_tasks.arn,
      aws_cloudwatch_metric_alarm.peer_link_key_refused.arn,
    ],
    var.other_alarm_arns,
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  # Dashboard names are global to the account: the region keeps the same
  # deployment name in two regions from colliding.
  dashboard_name = "${var.name_prefix}-${local.region}"
  dashboard_body = jsonencode({
    widgets = concat(
      [{
        type   = "alarm"
        x      = 0
        y      = 0
        width  = 24
        height = 4
        properties = {
          title  = "Alarms"
          alarms = local.alarm_arns
        }
      }],
      [
        for i, g in local.graphs : {
          type   = "metric"
          x      = (i % 2) * 12
          y      = 4 + floor(i / 2) * 6
          width  = 12
          height = 6
          properties = merge(
            {
              title   = g.title
              region  = local.region
              view    = "timeSeries"
              stacked = false
              period  = 60
              metrics = g.metrics
            },
            can(g.annotations) ? { annotations = g.annotations } : {},
          )
        }
      ],
    )
  })
}
