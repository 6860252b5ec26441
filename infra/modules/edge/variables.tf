variable "name" {
  description = "Name of the edge service; also the name of its ECR repository, cluster and load balancer and the prefix of its roles and log group."
  type        = string

  # ECR repository names are lower case; load balancer and target group
  # names are at most 32 characters, letters, digits and inner hyphens, and
  # may not begin with "internal-".
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,24}[a-z0-9])?$", var.name)) && !strcontains(var.name, "--") && !startswith(var.name, "internal-")
    error_message = "The name must be 1 to 26 lower-case letters, digits or inner single '-' (ECR repository and load balancer rules), not starting with 'internal-'."
  }
}

variable "vpc_id" {
  description = "VPC of the service and its load balancer."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "task_subnet_ids" {
  description = "Private subnets of the edge tasks (with a NAT gateway or VPC endpoints for AWS APIs)."
  type        = list(string)

  validation {
    condition     = length(var.task_subnet_ids) >= 1 && alltrue([for id in var.task_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "task_subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "load_balancer_subnet_ids" {
  description = "Subnets of the Network Load Balancer (public ones for devices on the internet)."
  type        = list(string)

  validation {
    condition     = length(var.load_balancer_subnet_ids) >= 1 && alltrue([for id in var.load_balancer_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "load_balancer_subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "internal" {
  description = "Make the load balancer internal (devices reach it over a VPN or Direct Connect)."
  type        = bool
  default     = false
  nullable    = false
}

variable "load_balancer_ip_address_type" {
  description = "Address family of the load balancer: ipv4, or dualstack to admit IPv6 devices too (its subnets then need IPv6 CIDRs)."
  type        = string
  default     = "ipv4"
  nullable    = false

  validation {
    condition     = contains(["ipv4", "dualstack"], var.load_balancer_ip_address_type)
    error_message = "load_balancer_ip_address_type must be ipv4 or dualstack."
  }
}

variable "device_cidr_blocks" {
  description = "Networks allowed to reach the device port 3101 (IPv4 or IPv6 CIDRs)."
  type        = list(string)

  validation {
    condition     = length(var.device_cidr_blocks) >= 1 && alltrue([for cidr in var.device_cidr_blocks : can(cidrhost(cidr, 0))])
    error_message = "device_cidr_blocks must hold at least one CIDR block."
  }
}

variable "groupwise_cidr_blocks" {
  description = "Networks of the GroupWise Messenger servers the edge connects to (IPv4 or IPv6 CIDRs)."
  type        = list(string)

  validation {
    condition     = length(var.groupwise_cidr_blocks) >= 1 && alltrue([for cidr in var.groupwise_cidr_blocks : can(cidrhost(cidr, 0))])
    error_message = "groupwise_cidr_blocks must hold at least one CIDR block."
  }
}

variable "groupwise_ports" {
  description = "TCP ports of the GroupWise Messenger servers (8300 unless a pool says otherwise)."
  type        = set(number)
  default     = [8300]
  nullable    = false

  validation {
    condition     = length(var.groupwise_ports) >= 1 && alltrue([for p in var.groupwise_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "groupwise_ports must hold at least one port between 1 and 65535."
  }
}

variable "aws_api_cidr_blocks" {
  description = "Where HTTPS (443) to AWS APIs may go: Lambda, DynamoDB, ECR, CloudWatch Logs, Secrets Manager (narrow it to VPC endpoint subnets when you have them)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = alltrue([for cidr in var.aws_api_cidr_blocks : can(cidrhost(cidr, 0))])
    error_message = "aws_api_cidr_blocks must hold CIDR blocks."
  }
}

variable "image_digest" {
  description = "Digest (sha256:...) of the edge image in the module's ECR repository, as `collabgw image --push` prints it. Null only while the repository is created before the first push (a targeted apply); the task definition refuses it."
  type        = string
  default     = null

  validation {
    condition     = var.image_digest == null || can(regex("^sha256:[0-9a-f]{64}$", var.image_digest))
    error_message = "image_digest must be sha256: followed by 64 lowercase hex digits."
  }
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repository with its images (turn on only to tear a test deployment down)."
  type        = bool
  default     = false
  nullable    = false
}

variable "cpu_architecture" {
  description = "CPU architecture of the edge image: ARM64 or X86_64."
  type        = string
  default     = "ARM64"
  nullable    = false

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "task_cpu" {
  description = "CPU units of a task (1024 = one vCPU)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_memory" {
  description = "Memory of a task in MiB (must suit task_cpu on Fargate)."
  type        = number
  default     = 1024
  nullable    = false

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 122880
    error_message = "task_memory must be between 512 and 122880 MiB."
  }
}

variable "gc_percent" {
  description = "The edge's GOGC: the garbage collector's headroom in percent of the live heap. Lower holds more sessions per MiB for more collector CPU (docs/benchmarks.md, Memory)."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.gc_percent >= 10 && var.gc_percent <= 400 && floor(var.gc_percent) == var.gc_percent
    error_message = "gc_percent must be a whole number from 10 to 400."
  }
}

variable "min_capacity" {
  description = "Fewest edge tasks (two keep sessions alive through a task failure)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number of at least 1."
  }
}

variable "max_capacity" {
  description = "Most edge tasks autoscaling may run."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 1000 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between 1 and 1000."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation autoscaling keeps the service at."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "connections_per_task_target" {
  description = "Device connections (NLB active flows) per task autoscaling keeps the service at."
  type        = number
  default     = 5000
  nullable    = false

  validation {
    condition     = var.connections_per_task_target >= 1
    error_message = "connections_per_task_target must be at least 1."
  }
}

variable "table_name" {
  description = "Name of the collabgw table (COLLABGW_TABLE)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "The table name must be 3 to 255 letters, digits, '_', '-' or '.'."
  }
}

variable "table_arn" {
  description = "ARN of the collabgw table."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]+$", var.table_arn))
    error_message = "table_arn must be a DynamoDB table ARN."
  }
}

variable "table_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the table."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.table_kms_key_arn))
    error_message = "table_kms_key_arn must be a KMS key ARN."
  }
}

variable "authorize_function_arn" {
  description = "ARN of the authorize function (COLLABGW_AUTHORIZE_FUNCTION)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9-_]+$", var.authorize_function_arn))
    error_message = "authorize_function_arn must be an unqualified Lambda function ARN."
  }
}

variable "release_function_arn" {
  description = "ARN of the release function (COLLABGW_RELEASE_FUNCTION)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9-_]+$", var.release_function_arn))
    error_message = "release_function_arn must be an unqualified Lambda function ARN."
  }
}

variable "gateway_private_key_secret_arn" {
  description = "Secrets Manager secret holding the gateway's Noise static private key (COLLABGW_GATEWAY_PRIVATE_KEY). Created outside Terraform so the key never enters the state."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.gateway_private_key_secret_arn))
    error_message = "gateway_private_key_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "gateway_private_key_next_secret_arn" {
  description = "Secrets Manager secret holding the gateway's next Noise private key during a key rotation window (COLLABGW_GATEWAY_PRIVATE_KEY_NEXT); null outside a rotation."
  type        = string
  default     = null

  validation {
    condition     = var.gateway_private_key_next_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.gateway_private_key_next_secret_arn))
    error_message = "gateway_private_key_next_secret_arn must be a Secrets Manager secret ARN or null."
  }
}

variable "peer_key_secret_arn" {
  description = "Secrets Manager secret holding the task-to-task link's key, base64 of 32 random bytes (COLLABGW_PEER_KEY). Created outside Terraform so the key never enters the state."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.peer_key_secret_arn))
    error_message = "peer_key_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "peer_key_next_secret_arn" {
  description = "Secrets Manager secret holding the task-to-task link's next key during a rotation window (COLLABGW_PEER_KEY_NEXT); null outside a rotation."
  type        = string
  default     = null

  validation {
    condition     = var.peer_key_next_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.peer_key_next_secret_arn))
    error_message = "peer_key_next_secret_arn must be a Secrets Manager secret ARN or null."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key of the key secrets, if they have one (null: the AWS-managed key)."
  type        = string
  default     = null

  validation {
    condition     = var.secrets_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.secrets_kms_key_arn))
    error_message = "secrets_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "groupwise_ca_secret_arns" {
  description = "Secrets Manager secrets holding GroupWise CA bundles that pools name in their caRef; the edge tasks may read exactly these."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.groupwise_ca_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", arn))])
    error_message = "Each GroupWise CA secret must be a Secrets Manager secret ARN."
  }
}

variable "lease_seconds" {
  description = "An edge task's lease in seconds (COLLABGW_LEASE_SECONDS); same value as the functions."
  type        = number
  default     = 30
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.lease_seconds >= 2 && var.lease_seconds <= 3600 && floor(var.lease_seconds) == var.lease_seconds
    error_message = "lease_seconds must be a whole number of seconds between 2 and 3600."
  }
}

variable "heartbeat_seconds" {
  description = "Interval in seconds at which each edge task renews its lease, one write per task (COLLABGW_HEARTBEAT_SECONDS); same value as the functions."
  type        = number
  default     = 10
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.heartbeat_seconds >= 1 && var.heartbeat_seconds <= 1800 && floor(var.heartbeat_seconds) == var.heartbeat_seconds
    error_message = "heartbeat_seconds must be a whole number of seconds between 1 and 1800."
  }
}

variable "drain_seconds" {
  description = "How long the edge drains sessions after SIGTERM (COLLABGW_DRAIN_SECONDS); shorter than stop_timeout."
  type        = number
  default     = 25
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.drain_seconds >= 1 && var.drain_seconds <= 29 && floor(var.drain_seconds) == var.drain_seconds
    error_message = "drain_seconds must be a whole number of seconds between 1 and 29."
  }
}

variable "stop_timeout" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL; longer than drain_seconds (Fargate allows up to 120)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120 && floor(var.stop_timeout) == var.stop_timeout
    error_message = "stop_timeout must be a whole number between 2 and 120."
  }
}

variable "log_level" {
  description = "Log level of the edge (COLLABGW_LOG_LEVEL)."
  type        = string
  default     = "info"
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be one of debug, info, warn or error."
  }
}

variable "log_retention_in_days" {
  description = "Days CloudWatch Logs keeps the edge's logs."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "container_insights_log_retention_in_days" {
  description = "Days CloudWatch Logs keeps Container Insights' performance events (the metrics are extracted on arrival, so a short retention loses nothing)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.container_insights_log_retention_in_days)
    error_message = "container_insights_log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ...)."
  }
}

variable "alarm_actions" {
  description = "ARNs (SNS topics) notified when an alarm fires."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "health_check_path" {
  description = "HTTP path of the edge's health endpoint on the health port."
  type        = string
  default     = "/healthz"
  nullable    = false

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "groupwise_ca_dir" {
  description = "Folder in the edge image holding the PEM bundles that pools' relative caRef values name (COLLABGW_GROUPWISE_CA_DIR)."
  type        = string
  default     = "/etc/collabgw/groupwise-ca"
  nullable    = false

  validation {
    condition     = startswith(var.groupwise_ca_dir, "/")
    error_message = "groupwise_ca_dir must be an absolute path."
  }
}

variable "coverage_grace_seconds" {
  description = "How long a device that lost coverage may take to resume its session before it is logged out (COLLABGW_COVERAGE_GRACE_SECONDS)."
  type        = number
  default     = 120
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.coverage_grace_seconds >= 1 && var.coverage_grace_seconds <= 3600 && floor(var.coverage_grace_seconds) == var.coverage_grace_seconds
    error_message = "coverage_grace_seconds must be a whole number of seconds between 1 and 3600."
  }
}

variable "addr_login_rate" {
  description = "New device connections per second allowed per source address, burst twice that; 0 turns the limit off (COLLABGW_ADDR_LOGIN_RATE)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.addr_login_rate >= 0 && var.addr_login_rate <= 100000
    error_message = "addr_login_rate must be a number between 0 and 100000."
  }
}

variable "max_connections" {
  description = "Cap on open device connections per edge task (COLLABGW_MAX_CONNECTIONS)."
  type        = number
  default     = 50000
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.max_connections >= 1 && var.max_connections <= 1000000 && floor(var.max_connections) == var.max_connections
    error_message = "max_connections must be a whole number between 1 and 1000000."
  }
}
