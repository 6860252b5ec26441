mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
}

variables {
  name                           = "collabgw-edge"
  vpc_id                         = "vpc-0123456789abcdef0"
  task_subnet_ids                = ["subnet-0123456789abcdef0"]
  load_balancer_subnet_ids       = ["subnet-0123456789abcdef1"]
  device_cidr_blocks             = ["198.51.100.0/24"]
  groupwise_cidr_blocks          = ["10.20.0.0/24"]
  image_tag                      = "v1"
  table_name                     = "collabgw"
  table_arn                      = "arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw"
  table_kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  authorize_function_arn         = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-authorize"
  release_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-release"
  gateway_private_key_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-AbCdEf"
}

run "network_admits_only_the_device_port" {
  command = apply

  assert {
    condition     = aws_lb.this.load_balancer_type == "network" && aws_lb_listener.this.port == 3101 && aws_lb_listener.this.protocol == "TCP"
    error_message = "Devices connect to a Network Load Balancer on TCP 3101."
  }
  assert {
    condition     = aws_lb_target_group.this.target_type == "ip" && aws_lb_target_group.this.health_check[0].port == "8080"
    error_message = "Fargate tasks are ip targets, health-checked on 8080."
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.load_balancer_device : r.from_port == 3101 && r.to_port == 3101 && contains(var.device_cidr_blocks, r.cidr_ipv4)])
    error_message = "The load balancer admits only 3101 from the device networks."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_device.from_port == 3101 && aws_vpc_security_group_ingress_rule.task_device.referenced_security_group_id == aws_security_group.load_balancer.id
    error_message = "Tasks admit 3101 only from the load balancer."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_health.from_port == 8080 && aws_vpc_security_group_ingress_rule.task_health.cidr_ipv4 == "10.0.0.0/16"
    error_message = "Tasks admit the health port only from the VPC."
  }
  assert {
    condition = alltrue(concat(
      [for r in aws_vpc_security_group_egress_rule.task_groupwise : r.from_port == 8300 && r.cidr_ipv4 == "10.20.0.0/24"],
      [for r in aws_vpc_security_group_egress_rule.task_aws_apis : r.from_port == 443 && r.to_port == 443],
    ))
    error_message = "Tasks may only reach GroupWise on its port and AWS APIs on 443."
  }
}

run "task_role_is_narrow" {
  command = apply

  assert {
    condition     = jsonencode(sort(flatten([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Action]))) == jsonencode(sort(["lambda:InvokeFunction", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]))
    error_message = "The task role may only invoke, update and read its items, query the owner index and use the table key."
  }
  assert {
    condition     = jsonencode(one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "InvokeAdmission"])) == jsonencode([var.authorize_function_arn, var.release_function_arn])
    error_message = "The edge may invoke only authorize and release."
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Condition.StringEqualsIfExists["dynamodb:ReturnValues"] if s.Sid == "UpdateOwnSessions"]) == ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    error_message = "UpdateItem must not return whole items."
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "GatewayKey"]) == [var.gateway_private_key_secret_arn]
    error_message = "The execution role reads only the gateway key secret."
  }
}

run "scales_on_cpu_and_connections" {
  command = apply

  assert {
    condition     = aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
    error_message = "One policy tracks CPU."
  }
  assert {
    condition = one([
      for m in aws_appautoscaling_policy.connections.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics :
      m.metric_stat[0].metric[0].metric_name if m.id == "flows"
    ]) == "ActiveFlowCount"
    error_message = "One policy tracks NLB active flows per task."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.memory.id) > 0 && aws_cloudwatch_metric_alarm.memory.metric_name == "MemoryUtilization"
    error_message = "Edge memory needs an alarm."
  }
  assert {
    condition     = aws_cloudwatch_log_group.container_insights.name == "/aws/ecs/containerinsights/${var.name}/performance" && aws_cloudwatch_log_group.container_insights.retention_in_days == 7
    error_message = "Container Insights' log group needs a retention, or ECS creates it without one."
  }
}

run "stop_timeout_must_exceed_drain" {
  command = plan
  variables {
    drain_seconds = 29
    stop_timeout  = 29
  }
  expect_failures = [aws_ecs_task_definition.this]
}

run "rejects_bad_device_cidr" {
  command = plan
  variables {
    device_cidr_blocks = ["not-a-cidr"]
  }
  expect_failures = [var.device_cidr_blocks]
}
