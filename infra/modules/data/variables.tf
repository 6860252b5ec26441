variable "name" {
  description = "Name of the DynamoDB table (the programs read it from COLLABGW_TABLE)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "The table name must be 3 to 255 letters, digits, '_', '-' or '.'."
  }
}

variable "deletion_protection_enabled" {
  description = "Refuse to delete the table (turn off only to tear down a test deployment)."
  type        = bool
  default     = true
  nullable    = false
}

variable "kms_key_deletion_window_in_days" {
  description = "Days a deleted table key waits before it is gone for good."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "The KMS deletion window must be between 7 and 30 days."
  }
}

variable "kms_key_rotation_period_in_days" {
  description = "Days between automatic rotations of the table key."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.kms_key_rotation_period_in_days >= 90 && var.kms_key_rotation_period_in_days <= 2560
    error_message = "The KMS rotation period must be between 90 and 2560 days."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
  nullable    = false
}
