data "aws_region" "current" {}

locals {
  # IAM names are global to the account: the region in the role name keeps
  # the same deployment name in two regions from colliding.
  role_names = { for fn in keys(local.functions) : fn => "${var.name_prefix}-${fn}-${data.aws_region.current.region}" }
}

# One role per function with exactly the table actions that function calls
# (transaction members are authorised by their own actions). Query is also
# allowed on the indexes; nothing else is.
resource "aws_iam_role" "this" {
  for_each = local.functions

  name = local.role_names[each.key]
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(local.role_names[each.key]) <= 64
      error_message = "The role name ${local.role_names[each.key]} is longer than IAM's 64 characters: shorten name_prefix."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.functions

  name = "collabgw-${each.key}"
  role = aws_iam_role.this[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "Table"
          Effect   = "Allow"
          Action   = each.value.table_actions
          Resource = [var.table_arn]
        },
      ],
      contains(each.value.table_actions, "dynamodb:Query") ? [
        {
          Sid      = "Indexes"
          Effect   = "Allow"
          Action   = ["dynamodb:Query"]
          Resource = var.table_index_arns
        },
      ] : [],
      [
        {
          Sid      = "TableKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
          Resource = [var.table_kms_key_arn]
          Condition = {
            StringEquals = { "kms:ViaService" = "dynamodb.${data.aws_region.current.region}.amazonaws.com" }
          }
        },
        {
          Sid      = "Logs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
        },
      ],
    )
  })
}
