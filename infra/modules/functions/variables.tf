variable "name_prefix" {
  description = "Prefix of every name the module creates; function names are <prefix>-authorize, -release and -sweep."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-_]{1,40}$", var.name_prefix))
    error_message = "The name prefix must be 1 to 40 letters, digits, '-' or '_'."
  }
}

variable "package_files" {
  description = "Path of each function's deployment zip (dist/<name>.zip from `make build`), by function name: authorize, release and sweep."
  type        = map(string)

  validation {
    condition     = toset(keys(var.package_files)) == toset(["authorize", "release", "sweep"])
    error_message = "package_files must name exactly the functions authorize, release and sweep."
  }

  validation {
    condition     = alltrue([for path in values(var.package_files) : endswith(path, ".zip")])
    error_message = "Each package file must be a .zip file."
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

variable "table_index_arns" {
  description = "ARNs of the table's local secondary indexes (the functions Query them)."
  type        = list(string)

  validation {
    condition     = alltrue([for arn in var.table_index_arns : can(regex("^arn:aws[a-z-]*:dynamodb:.+:table/.+/index/.+$", arn))])
    error_message = "Each table index ARN must be a DynamoDB index ARN."
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

variable "memory_size" {
  description = "Memory of each function in MiB."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MiB."
  }
}

variable "timeout" {
  description = "Timeout of each function in seconds."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "sweep_timeout" {
  description = "Timeout of the sweep function in seconds (it walks every pool)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.sweep_timeout >= 1 && var.sweep_timeout <= 900 && floor(var.sweep_timeout) == var.sweep_timeout
    error_message = "sweep_timeout must be a whole number between 1 and 900 seconds."
  }
}

variable "sweep_reserved_concurrency" {
  description = "Reserved concurrency of the sweep function; null (the default) reserves none. Lambda refuses a reservation that leaves the account less than its minimum unreserved concurrency, so set it only where the account's concurrency quota allows (infra/README.md)."
  type        = number
  default     = null

  validation {
    condition     = var.sweep_reserved_concurrency == null || try(var.sweep_reserved_concurrency >= 1 && floor(var.sweep_reserved_concurrency) == var.sweep_reserved_concurrency, false)
    error_message = "sweep_reserved_concurrency must be null or a whole number of at least 1."
  }
}

variable "lease_seconds" {
  description = "An edge task's lease in seconds (COLLABGW_LEASE_SECONDS); at least two heartbeats."
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
  description = "Interval at which each edge task renews its lease, in seconds (COLLABGW_HEARTBEAT_SECONDS)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    # Generated from internal/manifest: go test ./internal/manifest -run Ranges -update
    condition     = var.heartbeat_seconds >= 1 && var.heartbeat_seconds <= 1800 && floor(var.heartbeat_seconds) == var.heartbeat_seconds
    error_message = "heartbeat_seconds must be a whole number of seconds between 1 and 1800."
  }
}

variable "log_level" {
  description = "Log level of the functions (COLLABGW_LOG_LEVEL)."
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
  description = "Days CloudWatch Logs keeps the functions' logs."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "sweep_schedule" {
  description = "EventBridge schedule of the sweep function."
  type        = string
  default     = "rate(1 minute)"
  nullable    = false

  validation {
    condition     = can(regex("^(rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.sweep_schedule))
    error_message = "sweep_schedule must be an EventBridge rate(...) or cron(...) expression."
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
