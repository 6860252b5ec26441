# A complete collabgw deployment into an existing VPC: the table, the three
# functions, the edge service behind an NLB, the configured pools, the
# dashboard and alarms, and an SNS topic the alarms notify.
locals {
  # The keys live in Secrets Manager, created outside Terraform so they never
  # enter the state (README Deploy; `make deploy` creates them under these
  # names). The NEXT keys exist only during a rotation window.
  key_secret_names = {
    gateway = coalesce(var.gateway_key_secret_name, "${var.name}/gateway-key")
    peer    = coalesce(var.peer_key_secret_name, "${var.name}/peer-key")
  }
  next_key_secret_names = { for k, v in {
    gateway = var.gateway_key_next_secret_name
    peer    = var.peer_key_next_secret_name
  } : k => v if v != null }
}

# Pools whose groupwise_ca_ref names a Secrets Manager secret
# ("secretsmanager:<name or ARN>", or a bare ARN): the edge may read exactly
# those, with its task role. Names are looked up; ARNs are used as given.
locals {
  groupwise_ca_refs = distinct([
    for pool in var.pools : trimprefix(pool.groupwise_ca_ref, "secretsmanager:")
    if can(regex("^(secretsmanager:|arn:aws[a-z-]*:secretsmanager:)", pool.groupwise_ca_ref))
  ])
  groupwise_ca_secret_arns = distinct(concat(
    var.groupwise_ca_secret_arns,
    [for ref in local.groupwise_ca_refs : ref if startswith(ref, "arn:")],
    [for secret in data.aws_secretsmanager_secret.groupwise_ca : secret.arn],
  ))
}

data "aws_secretsmanager_secret" "groupwise_ca" {
  for_each = toset([for ref in local.groupwise_ca_refs : ref if !startswith(ref, "arn:")])

  name = each.value
}

data "aws_secretsmanager_secret" "key" {
  for_each = local.key_secret_names

  name = each.value
}

data "aws_secretsmanager_secret" "next_key" {
  for_each = local.next_key_secret_names

  name = each.value
}

module "data" {
  source = "../../modules/data"

  name                        = var.name
  deletion_protection_enabled = var.deletion_protection_enabled
}

module "functions" {
  source = "../../modules/functions"

  name_prefix = var.name
  # Relative paths: an absolute one would put this machine's folders in the
  # state and show a change on every other machine.
  package_files              = { for fn, file in var.package_files : fn => "${path.module}/${file}" }
  table_name                 = module.data.table_name
  table_arn                  = module.data.table_arn
  table_index_arns           = values(module.data.table_index_arns)
  table_kms_key_arn          = module.data.kms_key_arn
  sweep_reserved_concurrency = var.sweep_reserved_concurrency
  alarm_actions              = local.alarm_actions
}

module "edge" {
  source = "../../modules/edge"

  name                                = "${var.name}-edge"
  vpc_id                              = var.vpc_id
  task_subnet_ids                     = var.private_subnet_ids
  load_balancer_subnet_ids            = var.public_subnet_ids
  load_balancer_ip_address_type       = var.load_balancer_ip_address_type
  device_cidr_blocks                  = var.device_cidr_blocks
  groupwise_cidr_blocks               = var.groupwise_cidr_blocks
  groupwise_ports                     = toset(concat([8300], [for pool in var.pools : pool.groupwise_port]))
  groupwise_ca_secret_arns            = local.groupwise_ca_secret_arns
  image_digest                        = var.edge_image_digest
  ecr_force_delete                    = var.ecr_force_delete
  task_cpu                            = var.edge_task_cpu
  task_memory                         = var.edge_task_memory
  table_name                          = module.data.table_name
  table_arn                           = module.data.table_arn
  table_kms_key_arn                   = module.data.kms_key_arn
  authorize_function_arn              = module.functions.function_arns["authorize"]
  release_function_arn                = module.functions.function_arns["release"]
  gateway_private_key_secret_arn      = data.aws_secretsmanager_secret.key["gateway"].arn
  peer_key_secret_arn                 = data.aws_secretsmanager_secret.key["peer"].arn
  gateway_private_key_next_secret_arn = try(data.aws_secretsmanager_secret.next_key["gateway"].arn, null)
  peer_key_next_secret_arn            = try(data.aws_secretsmanager_secret.next_key["peer"].arn, null)
  alarm_actions                       = local.alarm_actions
}

module "pool" {
  source   = "../../modules/pool"
  for_each = var.pools

  table_name                 = module.data.table_name
  name                       = each.key
  groupwise_host             = each.value.groupwise_host
  groupwise_port             = each.value.groupwise_port
  max_sessions               = each.value.max_sessions
  idle_timeout_seconds       = each.value.idle_timeout_seconds
  inactivity_timeout_seconds = each.value.inactivity_timeout_seconds
  protocol_limit             = each.value.protocol_limit
  groupwise_ca_ref           = each.value.groupwise_ca_ref
  groupwise_pin_sha256       = each.value.groupwise_pin_sha256
}

module "monitoring" {
  source = "../../modules/monitoring"

  name_prefix              = var.name
  alarm_actions            = local.alarm_actions
  function_names           = module.functions.function_names
  function_log_group_names = module.functions.log_group_names
  edge_log_group_name      = module.edge.log_group_name
  ecs_cluster_name         = module.edge.ecs_cluster_name
  ecs_service_name         = module.edge.ecs_service_name
  load_balancer_arn_suffix = module.edge.load_balancer_arn_suffix
  target_group_arn_suffix  = module.edge.target_group_arn_suffix
  pools                    = { for name, pool in var.pools : name => { max_sessions = pool.max_sessions, protocol_limit = pool.protocol_limit } }
  other_alarm_arns         = concat(module.functions.alarm_arns, module.edge.alarm_arns)
}
