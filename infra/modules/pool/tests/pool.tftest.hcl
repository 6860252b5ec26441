mock_provider "aws" {}

variables {
  table_name                 = "collabgw"
  name                       = "main"
  groupwise_host             = "gwim.example.internal"
  max_sessions               = 500
  idle_timeout_seconds       = 900
  inactivity_timeout_seconds = 3600
}

run "writes_config_and_counter" {
  command = apply

  assert {
    condition = jsonencode({ for k, v in jsondecode(aws_dynamodb_table_item.config.item) : k => v if k != "updated" }) == jsonencode({
      pk            = { S = "CONFIG" }, sk = { S = "POOL#main" }, pool = { S = "main" }, maxSessions = { N = "500" },
      idleTimeoutMs = { N = "900000" }, inactivityTimeoutMs = { N = "3600000" }, protocolLimit = { N = "5120" },
      gwHost        = { S = "gwim.example.internal" }, gwPort = { N = "8300" },
    })
    error_message = "The config item must match internal/admission's layout."
  }
  assert {
    condition     = tonumber(jsondecode(aws_dynamodb_table_item.config.item).updated.N) > 1700000000000
    error_message = "updated must be Unix milliseconds."
  }
  assert {
    condition     = jsondecode(aws_dynamodb_table_item.counter.item) == { pk = { S = "POOL#main" }, sk = { S = "#COUNTER" }, live = { N = "0" }, ver = { N = "0" } }
    error_message = "The counter starts at zero."
  }
}

run "rejects_max_above_protocol_limit" {
  command = plan
  variables {
    max_sessions   = 6000
    protocol_limit = 5120
  }
  expect_failures = [aws_dynamodb_table_item.config]
}

run "rejects_bad_pool_name" {
  command = plan
  variables {
    name = "a#b"
  }
  expect_failures = [var.name]
}

run "rejects_sub_second_timeout" {
  command = plan
  variables {
    idle_timeout_seconds = 0.5
  }
  expect_failures = [var.idle_timeout_seconds]
}

run "rejects_bad_pin" {
  command = plan
  variables {
    groupwise_pin_sha256 = "abc"
  }
  expect_failures = [var.groupwise_pin_sha256]
}
