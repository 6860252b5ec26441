# The edge: an ECS Fargate service behind a Network Load Balancer. Ports,
# environment names, drain and stop timeout follow internal/manifest.
locals {
  device_port    = 3101
  health_port    = 8080
  peer_port      = 3102
  container_name = "edge"

  environment = {
    COLLABGW_TABLE                  = var.table_name
    COLLABGW_LEASE_SECONDS          = tostring(var.lease_seconds)
    COLLABGW_HEARTBEAT_SECONDS      = tostring(var.heartbeat_seconds)
    COLLABGW_LOG_LEVEL              = var.log_level
    COLLABGW_LISTEN_ADDR            = ":${local.device_port}"
    COLLABGW_HEALTH_ADDR            = ":${local.health_port}"
    COLLABGW_AUTHORIZE_FUNCTION     = var.authorize_function_arn
    COLLABGW_RELEASE_FUNCTION       = var.release_function_arn
    COLLABGW_DRAIN_SECONDS          = tostring(var.drain_seconds)
    COLLABGW_GROUPWISE_CA_DIR       = var.groupwise_ca_dir
    COLLABGW_COVERAGE_GRACE_SECONDS = tostring(var.coverage_grace_seconds)
    COLLABGW_ADDR_LOGIN_RATE        = tostring(var.addr_login_rate)
    COLLABGW_MAX_CONNECTIONS        = tostring(var.max_connections)
    COLLABGW_PEER_ADDR              = ":${local.peer_port}"
    # GOGC sets the collector's headroom over the live data, which is most
    # of the RSS of held sessions: at 50, 9,900 sessions take 19.7 KiB each
    # instead of 26.1 at Go's default 100, for about 2 % more of the task's
    # CPU in the collector (docs/benchmarks.md, Memory). GOMEMLIMIT makes it collect
    # harder still, whatever GOGC says, as the task nears its memory.
    GOGC       = tostring(var.gc_percent)
    GOMEMLIMIT = "${floor(var.task_memory * 0.9)}MiB"
  }

  # Keys come from Secrets Manager, so none is in the task definition or the
  # state. The NEXT keys are set only during a rotation window
  # (infra/README.md).
  secrets = { for name, arn in {
    COLLABGW_GATEWAY_PRIVATE_KEY      = var.gateway_private_key_secret_arn
    COLLABGW_GATEWAY_PRIVATE_KEY_NEXT = var.gateway_private_key_next_secret_arn
    COLLABGW_PEER_KEY                 = var.peer_key_secret_arn
    COLLABGW_PEER_KEY_NEXT            = var.peer_key_next_secret_arn
  } : name => arn if arn != null }

  # Fargate's CPU units and the memory sizes (MiB) each allows.
  fargate_memory = {
    256   = [512, 1024, 2048]
    512   = range(1024, 4096 + 1, 1024)
    1024  = range(2048, 8192 + 1, 1024)
    2048  = range(4096, 16384 + 1, 1024)
    4096  = range(8192, 30720 + 1, 1024)
    8192  = range(16384, 61440 + 1, 4096)
    16384 = range(32768, 122880 + 1, 8192)
  }

  image = var.image_digest == null ? null : "${aws_ecr_repository.this.repository_url}@${var.image_digest}"
}

data "aws_region" "current" {}

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  # Off by default: destroying the deployment must not silently take the
  # images with it. Turn on to tear a test deployment down.
  force_delete = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 20 newest images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  # Container Insights publishes RunningTaskCount, which the connection
  # scaling policy divides the NLB's flows by.
  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_in_days
  tags              = var.tags
}

# Container Insights writes its performance events to this group; left to
# ECS, it is created on first use with no retention (kept forever, billed
# forever). Created here first, with the service depending on it, so it
# exists before the first task reports.
resource "aws_cloudwatch_log_group" "container_insights" {
  name              = "/aws/ecs/containerinsights/${var.name}/performance"
  retention_in_days = var.container_insights_log_retention_in_days
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([{
    name = local.container_name
    # By digest: the task runs exactly the image `collabgw image` built
    # and pushed, whatever happens to tags.
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    # SIGTERM starts the drain (drain_seconds); ECS kills after stopTimeout.
    stopTimeout = var.stop_timeout
    portMappings = [
      { containerPort = local.device_port, protocol = "tcp" },
      { containerPort = local.health_port, protocol = "tcp" },
      { containerPort = local.peer_port, protocol = "tcp" },
    ]
    environment = [for name in sort(keys(local.environment)) : { name = name, value = local.environment[name] }]
    secrets     = [for name in sort(keys(local.secrets)) : { name = name, valueFrom = local.secrets[name] }]
    # Each session holds two sockets (device and GroupWise).
    ulimits = [{ name = "nofile", softLimit = 1048576, hardLimit = 1048576 }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.region
        awslogs-stream-prefix = local.container_name
      }
    }
  }])

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.image_digest != null
      error_message = "image_digest is not set: build and push the edge image first (`collabgw image --push`, README Deploy) and pass its sha256 digest."
    }
    precondition {
      condition     = contains(local.fargate_memory[tostring(var.task_cpu)], var.task_memory)
      error_message = "task_memory ${var.task_memory} MiB is not a Fargate size for task_cpu ${var.task_cpu}; allowed: ${join(", ", [for m in local.fargate_memory[tostring(var.task_cpu)] : tostring(m)])}."
    }
    precondition {
      condition     = var.stop_timeout > var.drain_seconds
      error_message = "stop_timeout must be longer than drain_seconds, or ECS kills the edge mid-drain."
    }
    precondition {
      condition     = var.lease_seconds >= 2 * var.heartbeat_seconds
      error_message = "lease_seconds must be at least two heartbeats (2 x heartbeat_seconds)."
    }
  }
}

resource "aws_ecs_service" "this" {
  name                              = var.name
  cluster                           = aws_ecs_cluster.this.arn
  task_definition                   = aws_ecs_task_definition.this.arn
  launch_type                       = "FARGATE"
  desired_count                     = var.min_capacity
  health_check_grace_period_seconds = 30
  propagate_tags                    = "SERVICE"

  network_configuration {
    subnets          = var.task_subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = local.device_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = var.tags

  # Autoscaling owns the task count after the first apply.
  lifecycle {
    ignore_changes = [desired_count]
  }

  # Without the role policies in place, the first tasks cannot pull the
  # image or read the keys and the deployment circuit breaker rolls back;
  # IAM changes also take a moment to apply, so the policies come first.
  depends_on = [
    aws_lb_listener.this,
    aws_cloudwatch_log_group.container_insights,
    aws_iam_role_policy.execution,
    aws_iam_role_policy.task,
  ]
}
