# The edge: an ECS Fargate service behind a Network Load Balancer. Ports,
# environment names, drain and stop timeout follow internal/manifest.
locals {
  device_port    = 3101
  health_port    = 8080
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
    # GOGC sets the collector's headroom over the live data, which is most
    # of the RSS of held sessions: at 50, 9,900 sessions take 19.7 KiB each
    # instead of 26.1 at Go's default 100, for about 2 % more of the task's
    # CPU in the collector (docs/benchmarks.md, Memory). GOMEMLIMIT makes it collect
    # harder still, whatever GOGC says, as the task nears its memory.
    GOGC       = tostring(var.gc_percent)
    GOMEMLIMIT = "${floor(var.task_memory * 0.9)}MiB"
  }

  secrets = {
    COLLABGW_GATEWAY_PRIVATE_KEY = var.gateway_private_key_secret_arn
  }
}

data "aws_region" "current" {}

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

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
    name                   = local.container_name
    image                  = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    # SIGTERM starts the drain (drain_seconds); ECS kills after stopTimeout.
    stopTimeout = var.stop_timeout
    portMappings = [
      { containerPort = local.device_port, protocol = "tcp" },
      { containerPort = local.health_port, protocol = "tcp" },
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

  depends_on = [aws_lb_listener.this, aws_cloudwatch_log_group.container_insights]
}
