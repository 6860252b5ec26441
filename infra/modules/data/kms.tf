data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The customer-managed key of the table. The key policy only delegates to
# IAM: the account's own policies decide who administers the key (without
# this statement a key can become unmanageable), and the collabgw roles get
# narrow kms: permissions on this key ARN, limited to use through DynamoDB.
resource "aws_kms_key" "this" {
  description             = "collabgw table ${var.name}"
  enable_key_rotation     = true
  rotation_period_in_days = var.kms_key_rotation_period_in_days
  deletion_window_in_days = var.kms_key_deletion_window_in_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        # In a key policy "kms:*" on "*" means "this key": it hands every
        # decision to IAM policies, which then grant narrowly.
        Action   = "kms:*"
        Resource = "*"
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
