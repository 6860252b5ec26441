mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge" }
  }
}

variables {
  name                           = "collabgw-edge"
  vpc_id                         = "vpc-0123456789abcdef0"
  task_subnet_ids                = ["subnet-0123456789abcdef0"]
  load_balancer_subnet_ids       = ["subnet-0123456789abcdef1"]
  device_cidr_blocks             = ["198.51.100.0/24"]
  groupwise_cidr_blocks          = ["10.20.0.0/24"]
  image_digest                   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  table_name                     = "collabgw"
  table_arn                      = "arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw"
  table_kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  authorize_function_arn         = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-authorize"
  release_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-release"
  gateway_private_key_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-AbCdEf"
  peer_key_secret_arn            = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/peer-key-AbCdEf"
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
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.load_balancer_device : r.ip_protocol == "tcp" && r.from_port == 3101 && r.to_port == 3101 && contains(var.device_cidr_blocks, r.cidr_ipv4)])
    error_message = "The load balancer admits only 3101 from the device networks."
  }
  assert {
    condition = alltrue([for k, r in aws_vpc_security_group_ingress_rule.task_from_load_balancer :
    r.referenced_security_group_id == aws_security_group.load_balancer.id && r.cidr_ipv4 == null && r.cidr_ipv6 == null])
    error_message = "Tasks admit the device and health ports only from the load balancer's security group."
  }
  assert {
    condition     = jsonencode(sort([for r in aws_vpc_security_group_ingress_rule.task_from_load_balancer : tostring(r.from_port)])) == jsonencode(["3101", "8080"])
    error_message = "The load balancer reaches the device port and the health port, nothing else."
  }
  assert {
    condition = alltrue(concat(
      [for r in aws_vpc_security_group_egress_rule.task_groupwise : r.from_port == 8300 && r.cidr_ipv4 == "10.20.0.0/24"],
      [for r in aws_vpc_security_group_egress_rule.task_aws_apis : r.from_port == 443 && r.to_port == 443],
    ))
    error_message = "Tasks may only reach GroupWise on its port and AWS APIs on 443."
  }
  assert {
    condition     = aws_lb_target_group.this.stickiness[0].enabled == false
    error_message = "No stickiness: a RESUME reaches the session's task over the task-to-task link, not by source address."
  }
}

run "peer_port_only_between_tasks" {
  command = apply

  assert {
    condition = (aws_vpc_security_group_ingress_rule.task_peer.from_port == 3102 && aws_vpc_security_group_ingress_rule.task_peer.to_port == 3102
      && aws_vpc_security_group_ingress_rule.task_peer.security_group_id == aws_security_group.task.id
    && aws_vpc_security_group_ingress_rule.task_peer.referenced_security_group_id == aws_security_group.task.id)
    error_message = "The peer port admits only the edge tasks' own security group."
  }
  assert {
    condition = (aws_vpc_security_group_egress_rule.task_peer.from_port == 3102
    && aws_vpc_security_group_egress_rule.task_peer.referenced_security_group_id == aws_security_group.task.id)
    error_message = "Tasks may reach the peer port of the other tasks."
  }
  assert {
    condition = length(concat(
      [for r in aws_vpc_security_group_ingress_rule.load_balancer_device : r if r.from_port == 3102],
      [for r in aws_vpc_security_group_ingress_rule.task_from_load_balancer : r if r.from_port == 3102],
      [for r in aws_vpc_security_group_egress_rule.load_balancer_to_tasks : r if r.from_port == 3102],
    )) == 0
    error_message = "The peer port is not reachable through the load balancer."
  }
  assert {
    condition     = contains([for p in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].portMappings : p.containerPort], 3102)
    error_message = "The container maps the peer port."
  }
  assert {
    condition     = one([for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.value if e.name == "COLLABGW_PEER_ADDR"]) == ":3102"
    error_message = "The edge listens for its peers on 3102."
  }
}

run "keys_come_from_secrets_manager" {
  command = apply

  assert {
    condition = jsonencode({ for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : s.name => s.valueFrom }) == jsonencode({
      COLLABGW_GATEWAY_PRIVATE_KEY = var.gateway_private_key_secret_arn
      COLLABGW_PEER_KEY            = var.peer_key_secret_arn
    })
    error_message = "The gateway key and the inter-task key are injected from Secrets Manager; the NEXT keys only during a rotation."
  }
  assert {
    condition     = jsonencode(sort(one([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "Keys"]))) == jsonencode(sort([var.gateway_private_key_secret_arn, var.peer_key_secret_arn]))
    error_message = "The execution role reads exactly the injected secrets."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "GroupWiseCA"]) == 0
    error_message = "Without CA secrets the task role reads no secret."
  }
}

run "rotation_injects_the_next_keys" {
  command = apply
  variables {
    gateway_private_key_next_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-next-AbCdEf"
    peer_key_next_secret_arn            = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/peer-key-next-AbCdEf"
    secrets_kms_key_arn                 = "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    groupwise_ca_secret_arns            = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/gw-ca-AbCdEf"]
  }

  assert {
    condition = jsonencode(sort([for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : s.name])) == jsonencode(sort([
      "COLLABGW_GATEWAY_PRIVATE_KEY", "COLLABGW_GATEWAY_PRIVATE_KEY_NEXT", "COLLABGW_PEER_KEY", "COLLABGW_PEER_KEY_NEXT",
    ]))
    error_message = "During a rotation both keys of each pair are injected."
  }
  assert {
    condition     = length(one([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "Keys"])) == 4
    error_message = "The execution role reads the four key secrets."
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Condition.StringEquals["kms:ViaService"] if s.Sid == "KeysDecrypt"]) == "secretsmanager.eu-west-1.amazonaws.com"
    error_message = "The secrets' KMS key is usable only through Secrets Manager."
  }
  assert {
    condition     = jsonencode(one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "GroupWiseCA"])) == jsonencode(var.groupwise_ca_secret_arns)
    error_message = "The task role reads exactly the GroupWise CA secrets."
  }
}

run "task_role_is_narrow" {
  command = apply

  assert {
    condition     = jsonencode(sort(flatten([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Action]))) == jsonencode(sort(["lambda:InvokeFunction", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]))
    error_message = "Without GroupWise CA secrets, the task role may only invoke, update and read its items, query the owner index and use the table key."
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
    condition     = aws_iam_role.task.name == "collabgw-edge-task-eu-west-1" && aws_iam_role.execution.name == "collabgw-edge-execution-eu-west-1"
    error_message = "Role names carry the region, so one deployment name can be used in two regions."
  }
}

run "image_by_digest" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge@${var.image_digest}"
    error_message = "The task runs the image by digest from the module's repository."
  }
  assert {
    condition     = aws_ecr_repository.this.force_delete == false && aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "The repository keeps its images on destroy unless asked, and its tags are immutable."
  }
}

run "ecr_force_delete_on_request" {
  command = plan
  variables {
    ecr_force_delete = true
  }

  assert {
    condition     = aws_ecr_repository.this.force_delete
    error_message = "ecr_force_delete lets destroy delete the repository with its images."
  }
}

run "the_task_needs_an_image_digest" {
  command = plan
  variables {
    image_digest = null
  }
  expect_failures = [aws_ecs_task_definition.this]
}

run "rejects_a_tag_for_a_digest" {
  command = plan
  variables {
    image_digest = "v1.0.0"
  }
  expect_failures = [var.image_digest]
}

run "ipv6_cidrs_are_cidr_ipv6" {
  command = apply
  variables {
    load_balancer_ip_address_type = "dualstack"
    device_cidr_blocks            = ["198.51.100.0/24", "2001:db8::/32"]
    groupwise_cidr_blocks         = ["10.20.0.0/24", "2001:db8:20::/48"]
    aws_api_cidr_blocks           = ["0.0.0.0/0", "::/0"]
  }

  assert {
    condition = alltrue(flatten([for rules in [
      values(aws_vpc_security_group_ingress_rule.load_balancer_device), values(aws_vpc_security_group_ingress_rule.load_balancer_pmtu),
      values(aws_vpc_security_group_ingress_rule.task_pmtu_groupwise), values(aws_vpc_security_group_egress_rule.task_groupwise),
      values(aws_vpc_security_group_egress_rule.task_aws_apis),
      ] : [for r in rules : (r.cidr_ipv4 == null) != (r.cidr_ipv6 == null)
      && (r.cidr_ipv4 == null || !strcontains(r.cidr_ipv4, ":"))
    && (r.cidr_ipv6 == null || strcontains(r.cidr_ipv6, ":"))]]))
    error_message = "Every rule sends an IPv4 block as cidr_ipv4 and an IPv6 block as cidr_ipv6, never both."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.load_balancer_device["2001:db8::/32"].cidr_ipv6 == "2001:db8::/32" && aws_vpc_security_group_egress_rule.task_aws_apis["::/0"].cidr_ipv6 == "::/0"
    error_message = "IPv6 device networks and IPv6 AWS endpoints get cidr_ipv6 rules."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.load_balancer_pmtu["2001:db8::/32"].ip_protocol == "icmpv6" && aws_vpc_security_group_ingress_rule.load_balancer_pmtu["2001:db8::/32"].from_port == 2
    error_message = "IPv6 path-MTU discovery uses ICMPv6 Packet Too Big."
  }
  assert {
    condition     = aws_lb.this.ip_address_type == "dualstack"
    error_message = "IPv6 devices need a dual-stack load balancer."
  }
}

run "ipv6_devices_need_a_dualstack_load_balancer" {
  command = plan
  variables {
    device_cidr_blocks = ["::/0"]
  }
  expect_failures = [aws_lb.this]
}

run "icmp_for_path_mtu_discovery" {
  command = apply

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.load_balancer_pmtu : r.ip_protocol == "icmp" && r.from_port == 3 && r.to_port == 4])
    error_message = "The load balancer admits ICMP fragmentation-needed (type 3 code 4) from the device networks."
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.task_pmtu_groupwise : r.ip_protocol == "icmp" && r.from_port == 3 && r.to_port == 4 && r.cidr_ipv4 == "10.20.0.0/24"])
    error_message = "The tasks admit ICMP fragmentation-needed from the GroupWise networks."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_pmtu_load_balancer["ipv4"].referenced_security_group_id == aws_security_group.load_balancer.id && aws_vpc_security_group_ingress_rule.task_pmtu_load_balancer["ipv4"].from_port == 3
    error_message = "The tasks admit ICMP fragmentation-needed through the load balancer."
  }
  assert {
    condition = length(concat(
      [for r in aws_vpc_security_group_ingress_rule.load_balancer_pmtu : r if r.ip_protocol == "-1" || r.from_port == -1],
      [for r in aws_vpc_security_group_ingress_rule.task_pmtu_groupwise : r if r.ip_protocol == "-1" || r.from_port == -1],
    )) == 0
    error_message = "Only the path-MTU ICMP types are open, not all ICMP."
  }
}

run "fargate_cpu_and_memory_pairs" {
  command = plan
  variables {
    task_cpu    = 1024
    task_memory = 8192
  }

  assert {
    condition     = aws_ecs_task_definition.this.cpu == "1024" && aws_ecs_task_definition.this.memory == "8192"
    error_message = "A valid Fargate pair is accepted."
  }
}

run "rejects_a_memory_size_the_cpu_does_not_allow" {
  command = plan
  variables {
    task_cpu    = 256
    task_memory = 4096
  }
  expect_failures = [aws_ecs_task_definition.this]
}

run "rejects_a_memory_size_off_the_step" {
  command = plan
  variables {
    task_cpu    = 8192
    task_memory = 18432
  }
  expect_failures = [aws_ecs_task_definition.this]
}

run "rejects_an_upper_case_name" {
  command = plan
  variables {
    name = "CollabGW-edge"
  }
  expect_failures = [var.name]
}

run "rejects_an_internal_prefixed_name" {
  command = plan
  variables {
    name = "internal-edge"
  }
  expect_failures = [var.name]
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
