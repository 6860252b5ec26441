data "aws_vpc" "this" {
  id = var.vpc_id
}

# Devices reach the NLB on 3101 only from device_cidr_blocks. The NLB has
# its own security group, so the tasks admit 3101 from it alone; the health
# port is open to the VPC (the NLB's health checks come from its private
# addresses). Out of the tasks: only the GroupWise ports and HTTPS to AWS.
resource "aws_security_group" "load_balancer" {
  name        = "${var.name}-nlb"
  description = "collabgw edge load balancer: device port in, tasks out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "load_balancer_device" {
  for_each = toset(var.device_cidr_blocks)

  security_group_id = aws_security_group.load_balancer.id
  description       = "devices to the device port"
  ip_protocol       = "tcp"
  from_port         = local.device_port
  to_port           = local.device_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "load_balancer_to_tasks" {
  for_each = toset([tostring(local.device_port), tostring(local.health_port)])

  security_group_id            = aws_security_group.load_balancer.id
  description                  = "to the edge tasks"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
  referenced_security_group_id = aws_security_group.task.id
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "collabgw edge tasks: device port from the NLB, health from the VPC, GroupWise and AWS APIs out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "task_device" {
  security_group_id            = aws_security_group.task.id
  description                  = "device port from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.device_port
  to_port                      = local.device_port
  referenced_security_group_id = aws_security_group.load_balancer.id
}

resource "aws_vpc_security_group_ingress_rule" "task_health" {
  security_group_id = aws_security_group.task.id
  description       = "health checks from the VPC"
  ip_protocol       = "tcp"
  from_port         = local.health_port
  to_port           = local.health_port
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "task_groupwise" {
  for_each = { for pair in setproduct(var.groupwise_cidr_blocks, var.groupwise_ports) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.task.id
  description       = "GroupWise Messenger"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_vpc_security_group_egress_rule" "task_aws_apis" {
  for_each = toset(var.aws_api_cidr_blocks)

  security_group_id = aws_security_group.task.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_lb" "this" {
  name                             = var.name
  load_balancer_type               = "network"
  internal                         = var.internal
  subnets                          = var.load_balancer_subnet_ids
  security_groups                  = [aws_security_group.load_balancer.id]
  enable_cross_zone_load_balancing = true
  tags                             = var.tags
}

resource "aws_lb_target_group" "this" {
  name                 = var.name
  port                 = local.device_port
  protocol             = "TCP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.stop_timeout
  # Devices' own addresses reach the edge (its per-address login limit).
  preserve_client_ip = true

  # A RESUME must reach the task that holds the session's GroupWise link:
  # keep a device's address on one task.
  stickiness {
    type    = "source_ip"
    enabled = true
  }

  health_check {
    protocol            = "HTTP"
    port                = tostring(local.health_port)
    path                = var.health_check_path
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "this" {
  load_balancer_arn = aws_lb.this.arn
  port              = local.device_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}
