mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
}

variables {
  name_prefix = "collabgw"
  package_files = {
    authorize = "tests/testdata/function.zip"
    release   = "tests/testdata/function.zip"
    sweep     = "tests/testdata/function.zip"
  }
  table_name        = "collabgw"
  table_arn         = "arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw"
  table_index_arns  = ["arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw/index/activity", "arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw/index/lease"]
  table_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "least_privilege_roles" {
  command = apply

  # Query reaches the indexes only for functions that Query; nothing else does.
  assert {
    condition = alltrue([for name, p in aws_iam_role_policy.this : alltrue([
      for s in jsondecode(p.policy).Statement : s.Sid != "Indexes" || (jsonencode(s.Action) == jsonencode(["dynamodb:Query"]) && jsonencode(s.Resource) == jsonencode(var.table_index_arns))
    ])])
    error_message = "Only dynamodb:Query may reach the indexes."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.this["release"].policy).Statement : s if s.Sid == "Indexes"]) == 0
    error_message = "release does not Query and must not reach the indexes."
  }
  assert {
    condition = alltrue(flatten([for name, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement : !contains(flatten([s.Action]), "*") && !contains(flatten([s.Resource]), "*")
    ]]))
    error_message = "No function policy may use a wildcard action or resource."
  }
  assert {
    condition     = alltrue([for name, g in aws_cloudwatch_log_group.this : g.retention_in_days == 30])
    error_message = "Every log group needs a retention."
  }
  assert {
    condition     = aws_lambda_permission.this.principal == "events.amazonaws.com" && aws_lambda_permission.this.source_arn == aws_cloudwatch_event_rule.this.arn
    error_message = "Only the sweep schedule may invoke sweep."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.errors) == 3
    error_message = "Each function needs an error alarm."
  }
}

run "sweep_fits_a_new_account" {
  command = apply

  assert {
    condition     = aws_lambda_function.this["sweep"].reserved_concurrent_executions == null
    error_message = "The sweep reserves no concurrency by default (a new account's quota cannot spare it)."
  }
  assert {
    condition     = aws_lambda_function.this["sweep"].timeout == 60 && aws_lambda_function.this["authorize"].timeout == 10 && aws_lambda_function.this["release"].timeout == 10
    error_message = "The sweep gets 60 s (as in template.yaml), the per-login functions 10 s."
  }
  assert {
    condition     = aws_lambda_function_event_invoke_config.sweep.function_name == aws_lambda_function.this["sweep"].function_name && aws_lambda_function_event_invoke_config.sweep.maximum_retry_attempts == 0
    error_message = "A failed scheduled sweep is not retried: the next one does its work."
  }
  assert {
    condition     = aws_lambda_function_event_invoke_config.sweep.maximum_event_age_in_seconds <= 60
    error_message = "A sweep event older than the schedule's period is dropped."
  }
  assert {
    condition     = alltrue([for fn, r in aws_iam_role.this : r.name == "collabgw-${fn}-eu-west-1"])
    error_message = "Role names carry the region, so one deployment name can be used in two regions."
  }
}

run "sweep_reservation_when_asked" {
  command = plan
  variables {
    sweep_reserved_concurrency = 1
  }

  assert {
    condition     = aws_lambda_function.this["sweep"].reserved_concurrent_executions == 1 && aws_lambda_function.this["authorize"].reserved_concurrent_executions == null
    error_message = "Only the sweep gets the reservation asked for."
  }
}

run "rejects_zero_reservation" {
  command = plan
  variables {
    sweep_reserved_concurrency = 0
  }
  expect_failures = [var.sweep_reserved_concurrency]
}

run "role_names_fit_iam" {
  command = plan
  variables {
    name_prefix = "a-forty-character-deployment-name-prefix"
  }
  override_data {
    target = data.aws_region.current
    values = { region = "ap-southeast-4" }
  }
  expect_failures = [aws_iam_role.this]
}

run "lease_must_cover_two_heartbeats" {
  command = plan
  variables {
    lease_seconds     = 40
    heartbeat_seconds = 30
  }
  expect_failures = [aws_lambda_function.this]
}

run "rejects_missing_function" {
  command = plan
  variables {
    package_files = { authorize = "a.zip", release = "r.zip" }
  }
  expect_failures = [var.package_files]
}
