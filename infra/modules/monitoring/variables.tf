variable "name_prefix" {
  description = "Prefix of the dashboard and alarm names (the deployment's name)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-_]{1,40}$", var.name_prefix))
    error_message = "The name prefix must be 1 to 40 letters, digits, '-' or '_'."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires or recovers."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_.-]{1,256}$", arn))])
    error_message = "Each alarm action must be an SNS topic ARN."
  }
}

variable "function_names" {
  description = "Name of each Lambda function, by manifest name: authorize, release, sweep (module functions' function_names)."
  type        = map(string)

  validation {
    condition     = toset(keys(var.function_names)) == toset(["authorize", "release", "sweep"])
    error_message = "function_names must name exactly the functions authorize, release and sweep."
  }
}

variable "function_log_group_names" {
  description = "Log group of each Lambda function, by manifest name (module functions' log_group_names); the metric filters read them."
  type        = map(string)

  validation {
    condition     = toset(keys(var.function_log_group_names)) == toset(["authorize", "release", "sweep"])
    error_message = "function_log_group_names must name exactly the functions authorize, release and sweep."
  }
}

variable "edge_log_group_name" {
  description = "Log group of the edge tasks (module edge's log_group_name)."
  type        = string

  validation {
    condition     = length(var.edge_log_group_name) >= 1
    error_message = "edge_log_group_name is required."
  }
}

variable "ecs_cluster_name" {
  description = "ECS cluster of the edge (the ClusterName dimension of AWS/ECS metrics)."
  type        = string
}

variable "ecs_service_name" {
  description = "ECS service of the edge (the ServiceName dimension of AWS/ECS metrics)."
  type        = string
}

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the edge's Network Load Balancer (net/<name>/<id>)."
  type        = string

  validation {
    condition     = can(regex("^net/.+/.+$", var.load_balancer_arn_suffix))
    error_message = "load_balancer_arn_suffix must be a Network Load Balancer ARN suffix (net/<name>/<id>)."
  }
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the edge's target group (targetgroup/<name>/<id>)."
  type        = string

  validation {
    condition     = can(regex("^targetgroup/.+/.+$", var.target_group_arn_suffix))
    error_message = "target_group_arn_suffix must be a target group ARN suffix (targetgroup/<name>/<id>)."
  }
}

variable "pools" {
  description = "Pools whose session limit the dashboard draws under their active sessions, by name: max_sessions (0: none) and protocol_limit."
  type = map(object({
    max_sessions   = optional(number, 0)
    protocol_limit = optional(number, 5120)
  }))
  default  = {}
  nullable = false
}

variable "other_alarm_arns" {
  description = "Alarms of the other modules shown in the dashboard's alarm panel (functions' and edge's alarm_arns)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "server_busy_rate_percent" {
  description = "Alarm when more than this percentage of logins over 5 minutes are answered SERVER_BUSY."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.server_busy_rate_percent > 0 && var.server_busy_rate_percent <= 100
    error_message = "server_busy_rate_percent must be above 0 and at most 100."
  }
}

variable "server_busy_min_logins" {
  description = "Logins in 5 minutes below which the SERVER_BUSY rate is not judged (one busy answer out of two is not an outage)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.server_busy_min_logins >= 1 && floor(var.server_busy_min_logins) == var.server_busy_min_logins
    error_message = "server_busy_min_logins must be a whole number of at least 1."
  }
}

variable "edge_bytes_per_session_threshold" {
  description = "Alarm when the edge tasks' memory per held session exceeds this many bytes (design target: about 20 KiB per session)."
  type        = number
  default     = 65536
  nullable    = false

  validation {
    condition     = var.edge_bytes_per_session_threshold >= 1024
    error_message = "edge_bytes_per_session_threshold must be at least 1024 bytes."
  }
}

variable "edge_memory_min_sessions" {
  description = "Average sessions per edge task below which memory per session is not judged (a task's fixed memory dominates a few sessions)."
  type        = number
  default     = 500
  nullable    = false

  validation {
    condition     = var.edge_memory_min_sessions >= 1
    error_message = "edge_memory_min_sessions must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
  nullable    = false
}
