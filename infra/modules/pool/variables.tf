# The validations mirror internal/admission.PoolConfig.Normalized, so a
# configuration Terraform accepts is one the Go code accepts; a generated
# test (infra/infratest/poolitem_test.go) holds them to it.

variable "table_name" {
  description = "Name of the collabgw table."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "The table name must be 3 to 255 letters, digits, '_', '-' or '.'."
  }
}

variable "name" {
  description = "Name of the pool (one pool per GroupWise Messenger server)."
  type        = string

  # Go's limit is in UTF-8 bytes; length() counts grapheme clusters. So the
  # bytes are counted here: one per code point, and one more for each code
  # point from U+0080, U+0800 and U+10000 on.
  validation {
    condition = var.name != "" && !strcontains(var.name, "#") && !strcontains(var.name, "\u0000") && (
      length(regexall("(?s).", var.name))
      + length(regexall("[\u0080-\U0010FFFF]", var.name))
      + length(regexall("[\u0800-\U0010FFFF]", var.name))
      + length(regexall("[\U00010000-\U0010FFFF]", var.name))
    ) <= 256
    error_message = "The pool name must be 1 to 256 bytes (UTF-8) without '#' or NUL."
  }
}

variable "max_sessions" {
  description = "Most live sessions the pool admits; 0 means no maximum (the protocol limit applies)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.max_sessions >= 0 && floor(var.max_sessions) == var.max_sessions
    error_message = "max_sessions must be a whole number, positive or 0 for no maximum."
  }
}

variable "idle_timeout_seconds" {
  description = "At the maximum, sessions out of coverage or silent longer than this may be evicted to make room; 0 never evicts."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.idle_timeout_seconds == 0 || (var.idle_timeout_seconds >= 1 && var.idle_timeout_seconds <= 2592000)
    error_message = "idle_timeout_seconds must be 0, or between 1 second and 30 days."
  }
}

variable "inactivity_timeout_seconds" {
  description = "Sessions silent longer than this are logged out at any count (the sweep does it); 0 never."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.inactivity_timeout_seconds == 0 || (var.inactivity_timeout_seconds >= 1 && var.inactivity_timeout_seconds <= 2592000)
    error_message = "inactivity_timeout_seconds must be 0, or between 1 second and 30 days."
  }
}

variable "protocol_limit" {
  description = "Sessions the GroupWise server supports (its Messaging Agent's user maximum); without max_sessions, logins past it get FAILED_300."
  type        = number
  default     = 5120
  nullable    = false

  validation {
    condition     = var.protocol_limit >= 1 && floor(var.protocol_limit) == var.protocol_limit
    error_message = "protocol_limit must be a positive whole number."
  }
}

variable "groupwise_host" {
  description = "Host name or address of the pool's GroupWise Messenger server."
  type        = string

  validation {
    condition     = var.groupwise_host != "" && !strcontains(var.groupwise_host, " ") && !strcontains(var.groupwise_host, "/")
    error_message = "groupwise_host is required and must be a host name or address."
  }
}

variable "groupwise_port" {
  description = "TCP port of the GroupWise Messenger server."
  type        = number
  default     = 8300
  nullable    = false

  validation {
    condition     = var.groupwise_port >= 1 && var.groupwise_port <= 65535 && floor(var.groupwise_port) == var.groupwise_port
    error_message = "groupwise_port must be between 1 and 65535."
  }
}

variable "groupwise_ca_ref" {
  description = "The CA bundle the edge trusts for this server: \"secretsmanager:<name or ARN>\" (or a bare secret ARN), an absolute path to a PEM file in the image, or a path under COLLABGW_GROUPWISE_CA_DIR; null or empty: the system roots."
  type        = string
  default     = null
}

variable "groupwise_pin_sha256" {
  description = "Hex SHA-256 of the server certificate, to pin it (stored in lower case); null or empty: no pin."
  type        = string
  default     = null

  validation {
    condition     = var.groupwise_pin_sha256 == null || var.groupwise_pin_sha256 == "" || can(regex("^[0-9a-fA-F]{64}$", var.groupwise_pin_sha256))
    error_message = "groupwise_pin_sha256 must be 64 hex digits."
  }
}
