# A pool's configuration item and its live-session counter
# (internal/admission/items.go):
#
#   pk            sk            attributes
#   CONFIG        POOL#<name>   pool, maxSessions, idleTimeoutMs, ...
#   POOL#<name>   #COUNTER      live, ver
#
# The item is internal/admission's (admission.PoolItems) for the same
# configuration: infra/infratest writes a tofu test from a table of
# configurations run through admission.PoolConfig.Normalized and fails when
# an item here differs from Go's, or when one side refuses a configuration
# the other accepts.
#
# Terraform owns the configuration item: a change here overwrites one made
# with the admin CLI. The counter is created with live = 0 and ver = 0 and
# then never written by Terraform again (ignore_changes = [item]): only the
# admission transactions change it, and an apply must never reset it under
# live sessions. The provider creates items with a condition that they do
# not exist yet, so a pool made earlier with the admin CLI fails to apply
# until its items are imported (see infra/README.md), instead of being reset.
locals {
  key_prefix = "POOL#"

  # Null and empty are both none, as in Go (omitempty); a pin has one
  # spelling, lower case, as Normalized writes it.
  ca_ref = var.groupwise_ca_ref == null ? "" : var.groupwise_ca_ref
  pin    = var.groupwise_pin_sha256 == null ? "" : lower(var.groupwise_pin_sha256)

  # The timeouts are whole milliseconds: Go's Duration.Milliseconds
  # truncates.
  config = merge(
    {
      pk                  = { S = "CONFIG" }
      sk                  = { S = "${local.key_prefix}${var.name}" }
      pool                = { S = var.name }
      maxSessions         = { N = tostring(var.max_sessions) }
      idleTimeoutMs       = { N = tostring(floor(var.idle_timeout_seconds * 1000)) }
      inactivityTimeoutMs = { N = tostring(floor(var.inactivity_timeout_seconds * 1000)) }
      protocolLimit       = { N = tostring(var.protocol_limit) }
      gwHost              = { S = var.groupwise_host }
      gwPort              = { N = tostring(var.groupwise_port) }
    },
    local.ca_ref == "" ? {} : { gwCaRef = { S = local.ca_ref } },
    local.pin == "" ? {} : { gwPinSha256 = { S = local.pin } },
  )

  # updated (Unix milliseconds) is when Terraform last changed the
  # configuration: the time recorded by terraform_data.updated, converted
  # from RFC 3339 with the days-from-civil algorithm (no built-in does it).
  t         = regex("^(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2}):(\\d{2})", terraform_data.updated.output)
  year      = tonumber(local.t[0]) - (tonumber(local.t[1]) <= 2 ? 1 : 0)
  era       = floor(local.year / 400)
  yoe       = local.year - local.era * 400
  doy       = floor((153 * ((tonumber(local.t[1]) + 9) % 12) + 2) / 5) + tonumber(local.t[2]) - 1
  doe       = local.yoe * 365 + floor(local.yoe / 4) - floor(local.yoe / 100) + local.doy
  days      = local.era * 146097 + local.doe - 719468
  updated_s = local.days * 86400 + tonumber(local.t[3]) * 3600 + tonumber(local.t[4]) * 60 + tonumber(local.t[5])
}

resource "terraform_data" "updated" {
  input            = timestamp()
  triggers_replace = sha256(jsonencode(local.config))

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_dynamodb_table_item" "config" {
  table_name = var.table_name
  hash_key   = "pk"
  range_key  = "sk"
  item       = jsonencode(merge(local.config, { updated = { N = tostring(local.updated_s * 1000) } }))

  lifecycle {
    precondition {
      condition     = var.max_sessions <= var.protocol_limit
      error_message = "max_sessions exceeds the protocol limit."
    }
  }
}

resource "aws_dynamodb_table_item" "counter" {
  table_name = var.table_name
  hash_key   = "pk"
  range_key  = "sk"
  item = jsonencode({
    pk   = { S = "${local.key_prefix}${var.name}" }
    sk   = { S = "#COUNTER" }
    live = { N = "0" }
    ver  = { N = "0" }
  })

  lifecycle {
    ignore_changes = [item]
  }
}
