mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-fn" }
  }
  mock_resource "aws_lb" {
    defaults = { arn_suffix = "net/collabgw-edge/0123456789abcdef" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn_suffix = "targetgroup/collabgw-edge/0123456789abcdef" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:collabgw-alarms" }
  }
}

# Secrets looked up by name get an ARN as AWS would answer (one for all of
# them: an override applies to every instance).
override_data {
  target = data.aws_secretsmanager_secret.key
  values = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-AbCdEf" }
}

override_data {
  target = data.aws_secretsmanager_secret.next_key
  values = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-next-AbCdEf" }
}

override_data {
  target = data.aws_secretsmanager_secret.groupwise_ca
  values = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/gw-ca-AbCdEf" }
}

variables {
  region                = "eu-west-1"
  vpc_id                = "vpc-0123456789abcdef0"
  private_subnet_ids    = ["subnet-0123456789abcdef0"]
  public_subnet_ids     = ["subnet-0123456789abcdef1"]
  device_cidr_blocks    = ["0.0.0.0/0"]
  groupwise_cidr_blocks = ["10.20.0.0/24"]
  edge_image_digest     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  package_files = {
    authorize = "../../modules/functions/tests/testdata/function.zip"
    release   = "../../modules/functions/tests/testdata/function.zip"
    sweep     = "../../modules/functions/tests/testdata/function.zip"
  }
  pools = {
    main = { groupwise_host = "gwim.example.internal", max_sessions = 500, idle_timeout_seconds = 900 }
  }
}

run "complete_deployment" {
  command = apply

  assert {
    condition     = output.table_name == "collabgw"
    error_message = "The table is named after the deployment."
  }
  assert {
    condition     = jsonencode(sort(keys(output.function_names))) == jsonencode(["authorize", "release", "sweep"])
    error_message = "The three functions are deployed."
  }
  assert {
    condition     = output.load_balancer_dns_name != null
    error_message = "The NLB DNS name is an output."
  }
  assert {
    condition     = length(module.pool) == 1
    error_message = "Each configured pool is written."
  }
  assert {
    condition     = output.dashboard_name == "collabgw-eu-west-1"
    error_message = "The deployment has its dashboard, named for its region."
  }
  assert {
    condition     = output.edge_image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge@${var.edge_image_digest}"
    error_message = "The edge runs the pushed image by digest."
  }
  assert {
    condition     = jsonencode(output.key_secret_names) == jsonencode({ gateway = "collabgw/gateway-key", peer = "collabgw/peer-key" })
    error_message = "The keys are read from the secrets make deploy creates."
  }
  assert {
    condition     = alltrue([for fn in ["authorize", "release", "sweep"] : !startswith(module.functions.package_files[fn], "/")])
    error_message = "Function packages are named by relative paths (an absolute path differs between machines and changes the plan)."
  }
}

run "alarms_reach_someone" {
  command = apply
  variables {
    alarm_email = "oncall@example.com"
  }

  assert {
    condition     = aws_sns_topic_subscription.email[0].protocol == "email" && aws_sns_topic_subscription.email[0].endpoint == "oncall@example.com" && aws_sns_topic_subscription.email[0].topic_arn == aws_sns_topic.alarms.arn
    error_message = "The alarm e-mail address is subscribed to the alarm topic."
  }
  assert {
    condition     = contains(local.alarm_actions, aws_sns_topic.alarms.arn)
    error_message = "Every module's alarms notify the deployment's topic."
  }
}

run "no_email_no_subscription" {
  command = plan

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 0
    error_message = "Without alarm_email there is no subscription to confirm."
  }
}

run "rotation_reads_the_next_keys" {
  command = plan
  variables {
    gateway_key_next_secret_name = "collabgw/gateway-key-next"
  }

  assert {
    condition     = keys(data.aws_secretsmanager_secret.next_key) == ["gateway"] && data.aws_secretsmanager_secret.next_key["gateway"].name == "collabgw/gateway-key-next"
    error_message = "During a rotation the next key's secret is looked up by name."
  }
}

run "pools_ca_secrets_are_readable" {
  command = plan
  variables {
    pools = {
      main  = { groupwise_host = "gwim.example.internal", groupwise_ca_ref = "secretsmanager:collabgw/gw-ca" }
      other = { groupwise_host = "gw2.example.internal", groupwise_ca_ref = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw2-ca-AbCdEf" }
      file  = { groupwise_host = "gw3.example.internal", groupwise_ca_ref = "corp.pem" }
      none  = { groupwise_host = "gw4.example.internal" }
    }
  }

  assert {
    condition     = jsonencode(keys(data.aws_secretsmanager_secret.groupwise_ca)) == jsonencode(["collabgw/gw-ca"])
    error_message = "A secret named by name is looked up; an ARN is used as given; file paths and pools without a caRef are not secrets."
  }
  assert {
    condition = jsonencode(sort(local.groupwise_ca_secret_arns)) == jsonencode(sort([
      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/gw-ca-AbCdEf",
      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw2-ca-AbCdEf",
    ]))
    error_message = "The edge may read exactly the pools' CA secrets."
  }
}

run "rejects_an_upper_case_name" {
  command = plan
  variables {
    name = "CollabGW"
  }
  expect_failures = [var.name]
}
