# The three Lambda functions. Names, environment and table actions follow
# internal/manifest (the infratest package fails when they drift apart).
locals {
  functions = {
    authorize = {
      description   = "collabgw: permission, device, limits, eviction, atomic admission"
      table_actions = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    }
    release = {
      description   = "collabgw: end a session and free its slot"
      table_actions = ["dynamodb:DeleteItem", "dynamodb:UpdateItem"]
    }
    sweep = {
      description   = "collabgw: end dead tasks' sessions, inactivity logouts, recount"
      table_actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    }
  }

  environment = {
    COLLABGW_TABLE             = var.table_name
    COLLABGW_LEASE_SECONDS     = tostring(var.lease_seconds)
    COLLABGW_HEARTBEAT_SECONDS = tostring(var.heartbeat_seconds)
    COLLABGW_LOG_LEVEL         = var.log_level
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_in_days
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name    = "${var.name_prefix}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.this[each.key].arn
  filename         = var.package_files[each.key]
  source_code_hash = filebase64sha256(var.package_files[each.key])
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  memory_size      = var.memory_size
  # The sweep walks every pool; it gets a minute (as in template.yaml),
  # the per-login functions the short timeout.
  timeout = each.key == "sweep" ? var.sweep_timeout : var.timeout
  # No reservation by default: Lambda refuses one that leaves the account
  # less than its minimum unreserved concurrency, which a new account with
  # a low concurrency quota always does (infra/README.md). Overlapping
  # sweeps are harmless (every write is conditional); they only contend.
  reserved_concurrent_executions = each.key == "sweep" ? var.sweep_reserved_concurrency : null

  environment {
    variables = local.environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this[each.key].name
  }

  tags = var.tags

  # The role's policy (logs, table) must exist before the first invocation.
  depends_on = [aws_iam_role_policy.this]

  lifecycle {
    precondition {
      condition     = var.lease_seconds >= 2 * var.heartbeat_seconds
      error_message = "lease_seconds must be at least two heartbeats (2 x heartbeat_seconds)."
    }
  }
}
