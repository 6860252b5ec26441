# The single collabgw table (single-table design, internal/admission/items.go):
# config, users, devices, edge task leases, sessions and counters, with two
# global secondary indexes, each projecting only what its readers need. No
# local index: no 10 GB item-collection limit (docs/data-model.md). The
# schema equals internal/admission.TableSchema; the infratest package checks
# the names.
locals {
  partition_key = "pk"
  sort_key      = "sk"
  ttl_attribute = "ttl"

  # Index key attributes and their types.
  index_attributes = {
    pool  = "S"
    act   = "N"
    owner = "S"
  }

  # GSI name => keys and the non-key attributes it projects.
  global_secondary_indexes = {
    # Sessions out of coverage or silent, per pool, oldest first: eviction
    # at the maximum.
    activity = { hash_key = "pool", range_key = "act", non_key_attributes = ["sid", "device", "owner", "ver", "lastStatus"] }
    # Sessions per edge task: the task's reconciliation, and a dead task's
    # sessions evicted at the maximum.
    owner = { hash_key = "owner", range_key = "pool", non_key_attributes = ["sid", "device"] }
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
    for_each = local.index_attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.global_secondary_indexes
    content {
      name               = global_secondary_index.key
      hash_key           = global_secondary_index.value.hash_key
      range_key          = global_secondary_index.value.range_key
      projection_type    = "INCLUDE"
      non_key_attributes = global_secondary_index.value.non_key_attributes
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
