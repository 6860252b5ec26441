# Devices reach the NLB on 3101 only from device_cidr_blocks. The NLB has
# its own security group, and the tasks admit the device port and the
# health port from it alone (the NLB's health checks come through its
# security group too). Edge tasks reach each other on the peer port (the
# task-to-task link that carries a RESUME to the task holding the
# session), and nothing else does. Out of the tasks: the GroupWise ports,
# HTTPS to AWS, and the peer port to the other tasks.
#
# Each CIDR goes to cidr_ipv4 or cidr_ipv6 by its family: an IPv6 block
# sent as cidr_ipv4 is refused by the EC2 API at apply time.
locals {
  is_ipv6 = { for cidr in distinct(concat(var.device_cidr_blocks, var.groupwise_cidr_blocks, var.aws_api_cidr_blocks)) : cidr => strcontains(cidr, ":") }

  device_has_ipv6 = anytrue([for cidr in var.device_cidr_blocks : local.is_ipv6[cidr]])

  # ICMP that path-MTU discovery needs: "fragmentation needed" (IPv4 type 3
  # code 4) and "packet too big" (ICMPv6 type 2). Without them a path with
  # a smaller MTU (VPN, tunnel, some mobile carriers) silently stalls
  # connections once a full-sized segment is sent.
  pmtu = {
    ipv4 = { protocol = "icmp", type = 3, code = 4 }
    ipv6 = { protocol = "icmpv6", type = 2, code = 0 }
  }
}

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
  cidr_ipv4         = local.is_ipv6[each.value] ? null : each.value
  cidr_ipv6         = local.is_ipv6[each.value] ? each.value : null
}

resource "aws_vpc_security_group_ingress_rule" "load_balancer_pmtu" {
  for_each = toset(var.device_cidr_blocks)

  security_group_id = aws_security_group.load_balancer.id
  description       = "path-MTU discovery from the device networks"
  ip_protocol       = local.is_ipv6[each.value] ? local.pmtu.ipv6.protocol : local.pmtu.ipv4.protocol
  from_port         = local.is_ipv6[each.value] ? local.pmtu.ipv6.type : local.pmtu.ipv4.type
  to_port           = local.is_ipv6[each.value] ? local.pmtu.ipv6.code : local.pmtu.ipv4.code
  cidr_ipv4         = local.is_ipv6[each.value] ? null : each.value
  cidr_ipv6         = local.is_ipv6[each.value] ? each.value : null
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
  description = "collabgw edge tasks: device and health ports from the NLB, peer port between tasks, GroupWise and AWS APIs out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "task_from_load_balancer" {
  for_each = {
    device = { port = local.device_port, description = "device port from the load balancer" }
    health = { port = local.health_port, description = "health checks from the load balancer" }
  }

  security_group_id            = aws_security_group.task.id
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = aws_security_group.load_balancer.id
}

# The task-to-task link: self-referencing rules, so only members of this
# security group (the edge tasks) reach the peer port.
resource "aws_vpc_security_group_ingress_rule" "task_peer" {
  security_group_id            = aws_security_group.task.id
  description                  = "task-to-task link from the other edge tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.peer_port
  to_port                      = local.peer_port
  referenced_security_group_id = aws_security_group.task.id
}

resource "aws_vpc_security_group_egress_rule" "task_peer" {
  security_group_id            = aws_security_group.task.id
  description                  = "task-to-task link to the other edge tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.peer_port
  to_port                      = local.peer_port
  referenced_security_group_id = aws_security_group.task.id
}

# Path-MTU discovery towards the tasks: from the GroupWise networks (the
# tasks' TLS links), and from the load balancer's side of the device links.
resource "aws_vpc_security_group_ingress_rule" "task_pmtu_groupwise" {
  for_each = toset(var.groupwise_cidr_blocks)

  security_group_id = aws_security_group.task.id
  description       = "path-MTU discovery from the GroupWise networks"
  ip_protocol       = local.is_ipv6[each.value] ? local.pmtu.ipv6.protocol : local.pmtu.ipv4.protocol
  from_port         = local.is_ipv6[each.value] ? local.pmtu.ipv6.type : local.pmtu.ipv4.type
  to_port           = local.is_ipv6[each.value] ? local.pmtu.ipv6.code : local.pmtu.ipv4.code
  cidr_ipv4         = local.is_ipv6[each.value] ? null : each.value
  cidr_ipv6         = local.is_ipv6[each.value] ? each.value : null
}

resource "aws_vpc_security_group_ingress_rule" "task_pmtu_load_balancer" {
  for_each = local.pmtu

  security_group_id            = aws_security_group.task.id
  description                  = "path-MTU discovery through the load balancer"
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.type
  to_port                      = each.value.code
  referenced_security_group_id = aws_security_group.load_balancer.id
}

resource "aws_vpc_security_group_egress_rule" "task_groupwise" {
  for_each = { for pair in setproduct(var.groupwise_cidr_blocks, var.groupwise_ports) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.task.id
  description       = "GroupWise Messenger"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = local.is_ipv6[each.value[0]] ? null : each.value[0]
  cidr_ipv6         = local.is_ipv6[each.value[0]] ? each.value[0] : null
}

resource "aws_vpc_security_group_egress_rule" "task_aws_apis" {
  for_each = toset(var.aws_api_cidr_blocks)

  security_group_id = aws_security_group.task.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.is_ipv6[each.value] ? null : each.value
  cidr_ipv6         = local.is_ipv6[each.value] ? each.value : null
}

resource "aws_lb" "this" {
  name                             = var.name
  load_balancer_type               = "network"
  internal                         = var.internal
  ip_address_type                  = var.load_balancer_ip_address_type
  subnets                          = var.load_balancer_subnet_ids
  security_groups                  = [aws_security_group.load_balancer.id]
  enable_cross_zone_load_balancing = true
  tags                             = var.tags

  lifecycle {
    precondition {
      condition     = !local.device_has_ipv6 || var.load_balancer_ip_address_type == "dualstack"
      error_message = "device_cidr_blocks holds IPv6 networks, which an IPv4-only load balancer never receives: set load_balancer_ip_address_type = \"dualstack\" (its subnets need IPv6 CIDRs)."
    }
  }
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

  # No stickiness. A device back from a coverage loss usually has a new
  # address (cell handover, Wi-Fi to cellular), so source-IP stickiness
  # would not bring its RESUME back to the task holding the session anyway,
  # and carrier NAT would pin whole carriers to one task. Any task that
  # receives a RESUME for another task's session relays it over the
  # task-to-task link (peer port); see infra/README.md.
  stickiness {
    type    = "source_ip"
    enabled = false
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
