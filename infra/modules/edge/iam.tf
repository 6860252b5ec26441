locals {
  # Session items and the tasks' lease items are the only items the edge
  # may change (IAM dynamodb:LeadingKeys), and only these attributes of
  # them (dynamodb:Attributes); internal/manifest.SessionKeyPrefix,
  # TaskPartitionKey and EdgeUpdatableAttributes.
  updatable_leading_keys = ["SESSION#*", "TASK"]
  updatable_attributes = [
    "pk", "sk", "sid", "owner", "lastStatus", "act", "cov", "covSince", "aseq", "ver", "conn",
    "task", "addr", "lease", "ttl", "started",
  ]
  # What the edge reads: its sessions (reconciliation), task lease items and
  # device items (where a session lives, for a RESUME that lands here).
  readable_leading_keys = ["SESSION#*", "TASK", "DEVICE#*"]
  # IAM names are global to the account: the region keeps the same
  # deployment name in two regions from colliding.
  execution_role_name = "${var.name}-execution-${data.aws_region.current.region}"
  task_role_name      = "${var.name}-task-${data.aws_region.current.region}"

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
# write logs, read the key secrets into the environment).
resource "aws_iam_role" "execution" {
  name               = local.execution_role_name
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
          # Exactly the secrets the task definition injects.
          Sid      = "Keys"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = [for name in sort(keys(local.secrets)) : local.secrets[name]]
        },
      ],
      var.secrets_kms_key_arn == null ? [] : [
        {
          Sid      = "KeysDecrypt"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = [var.secrets_kms_key_arn]
          Condition = {
            StringEquals = { "kms:ViaService" = "secretsmanager.${data.aws_region.current.region}.amazonaws.com" }
          }
        },
      ],
    )
  })
}

# The task role: what the edge program calls. It may invoke only authorize
# and release, update only its task's lease item and its sessions'
# activity, read session, task and device items, and query the owner index.
resource "aws_iam_role" "task" {
  name               = local.task_role_name
  assume_role_policy = local.ecs_trust_policy
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = length(local.execution_role_name) <= 64 && length(local.task_role_name) <= 64
      error_message = "The role names are longer than IAM's 64 characters: shorten name."
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name = "collabgw-edge"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
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
            "dynamodb:LeadingKeys" = local.updatable_leading_keys
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
        Sid      = "ReadSessionsTasksDevices"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:BatchGetItem"]
        Resource = [var.table_arn]
        Condition = {
          "ForAllValues:StringLike" = {
            "dynamodb:LeadingKeys" = local.readable_leading_keys
          }
        }
      },
      {
        # The owner index is keyed by task id, which is only known at run
        # time: the index itself is the limit.
        Sid      = "QueryOwnerIndex"
        Effect   = "Allow"
        Action   = ["dynamodb:Query"]
        Resource = ["${var.table_arn}/index/owner"]
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
      ], length(var.groupwise_ca_secret_arns) == 0 ? [] : [
      {
        # Pools whose caRef names a secret: the edge reads the CA bundle.
        Sid      = "GroupWiseCA"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = var.groupwise_ca_secret_arns
      },
    ])
  })
}
