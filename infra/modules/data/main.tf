# The single collabgw table (single-table design, internal/admission/items.go):
# config, users, devices, sessions and counters, with the two local secondary
# indexes the admission code reads with strong consistency. The schema equals
# internal/admission.TableSchema; the infratest package checks the names.
locals {
  partition_key = "pk"
  sort_key      = "sk"
  ttl_attribute = "ttl"

  # LSI name => sort key attribute (type N).
  local_secondary_indexes = {
    activity = "act"
    lease    = "lease"
  }
}

resource "aws_dynamodb_table" "this" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = local.partition_key
  range_key                   = local.sort_key
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = local.partition_key
    type = "S"
  }

  attribute {
    name = local.sort_key
    type = "S"
  }

  dynamic "attribute" {
    for_each = local.local_secondary_indexes
    content {
      name = attribute.value
      type = "N"
    }
  }

  dynamic "local_secondary_index" {
    for_each = local.local_secondary_indexes
    content {
      name            = local_secondary_index.key
      range_key       = local_secondary_index.value
      projection_type = "ALL"
    }
  }

  # Expiry is compared at read time; TTL (which may lag by up to 48 h) only
  # cleans up.
  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = var.tags
}
