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
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
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
}

variables {
  region                         = "eu-west-1"
  vpc_id                         = "vpc-0123456789abcdef0"
  private_subnet_ids             = ["subnet-0123456789abcdef0"]
  public_subnet_ids              = ["subnet-0123456789abcdef1"]
  device_cidr_blocks             = ["0.0.0.0/0"]
  groupwise_cidr_blocks          = ["10.20.0.0/24"]
  edge_image_tag                 = "v0.1.0"
  gateway_private_key_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-AbCdEf"
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
    condition     = output.dashboard_name == "collabgw"
    error_message = "The deployment has its dashboard."
  }
}
