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
