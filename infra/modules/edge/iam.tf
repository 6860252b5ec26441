locals {
  # Session items are the only items the edge may change (IAM
  # dynamodb:LeadingKeys), and only these attributes of them
  # (dynamodb:Attributes); internal/manifest.EdgeUpdatableAttributes.
  session_key_prefix = "POOL#"
  updatable_attributes = [
    "pk", "sk", "sid", "owner", "lease", "ttl", "lastStatus", "act", "cov", "covSince", "ver", "conn",
  ]
  ecs_trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# The execution role: what ECS itself needs to start a task (pull the image,
# write logs, read the gateway key secret into the environment).
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = local.ecs_trust_policy
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "collabgw-edge-execution"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          # GetAuthorizationToken has no resource-level permissions.
          Sid      = "RegistryLogin"
          Effect   = "Allow"
          Action   = ["ecr:GetAuthorizationToken"]
          Resource = "*"
        },
        {
          Sid      = "PullImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
          Resource = [aws_ecr_repository.this.arn]
        },
        {
          Sid      = "Logs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
        },
        {
          Sid      = "GatewayKey"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = [var.gateway_private_key_secret_arn]
        },
      ],
      var.gateway_private_key_kms_key_arn == null ? [] : [
        {
          Sid      = "GatewayKeyDecrypt"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = [var.gateway_private_key_kms_key_arn]
        },
      ],
    )
  })
}

# The task role: what the edge program calls. It may invoke only authorize
# and release, and update only session items' own attributes.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = local.ecs_trust_policy
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  name = "collabgw-edge"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "InvokeAdmission"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [var.authorize_function_arn, var.release_function_arn]
      },
      {
        Sid      = "UpdateOwnSessions"
        Effect   = "Allow"
        Action   = ["dynamodb:UpdateItem"]
        Resource = [var.table_arn]
        Condition = {
          "ForAllValues:StringLike" = {
            "dynamodb:LeadingKeys" = ["${local.session_key_prefix}*"]
          }
          "ForAllValues:StringEquals" = {
            "dynamodb:Attributes" = local.updatable_attributes
          }
          # Without this an UpdateItem could read back attributes outside
          # the list with ReturnValues ALL_OLD/ALL_NEW.
          StringEqualsIfExists = {
            "dynamodb:ReturnValues" = ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
          }
        }
      },
      {
        Sid      = "TableKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = [var.table_kms_key_arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "dynamodb.${data.aws_region.current.region}.amazonaws.com" }
        }
      },
    ]
  })
}
