# A complete collabgw deployment into an existing VPC: the table, the three
# functions, the edge service behind an NLB, and the configured pools.
module "data" {
  source = "../../modules/data"

  name                        = var.name
  deletion_protection_enabled = var.deletion_protection_enabled
}

module "functions" {
  source = "../../modules/functions"

  name_prefix       = var.name
  package_files     = { for fn, file in var.package_files : fn => abspath("${path.module}/${file}") }
  table_name        = module.data.table_name
  table_arn         = module.data.table_arn
  table_index_arns  = values(module.data.table_index_arns)
  table_kms_key_arn = module.data.kms_key_arn
  alarm_actions     = var.alarm_actions
}

module "edge" {
  source = "../../modules/edge"

  name                           = "${var.name}-edge"
  vpc_id                         = var.vpc_id
  task_subnet_ids                = var.private_subnet_ids
  load_balancer_subnet_ids       = var.public_subnet_ids
  device_cidr_blocks             = var.device_cidr_blocks
  groupwise_cidr_blocks          = var.groupwise_cidr_blocks
  groupwise_ports                = toset(concat([8300], [for pool in var.pools : pool.groupwise_port]))
  image_tag                      = var.edge_image_tag
  table_name                     = module.data.table_name
  table_arn                      = module.data.table_arn
  table_kms_key_arn              = module.data.kms_key_arn
  authorize_function_arn         = module.functions.function_arns["authorize"]
  release_function_arn           = module.functions.function_arns["release"]
  gateway_private_key_secret_arn = var.gateway_private_key_secret_arn
  alarm_actions                  = var.alarm_actions
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
  alarm_actions            = var.alarm_actions
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
