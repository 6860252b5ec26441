variable "region" {
  description = "AWS region to deploy to."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the deployment; prefixes every resource."
  type        = string
  default     = "collabgw"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "name must be 3 to 21 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "Existing VPC to deploy into."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets of the edge tasks (with a NAT gateway or VPC endpoints)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets of the Network Load Balancer."
  type        = list(string)
}

variable "device_cidr_blocks" {
  description = "Networks allowed to reach the device port 3101."
  type        = list(string)
}

variable "groupwise_cidr_blocks" {
  description = "Networks of the GroupWise Messenger servers."
  type        = list(string)
}

variable "edge_image_tag" {
  description = "Tag of the edge image pushed to the ECR repository the deployment creates."
  type        = string
}

variable "gateway_private_key_secret_arn" {
  description = "Secrets Manager secret with the gateway's Noise static private key."
  type        = string
}

variable "package_files" {
  description = "Deployment zip of each function, built by `make build` (paths relative to this folder)."
  type        = map(string)
  default = {
    authorize = "../../../dist/authorize.zip"
    release   = "../../../dist/release.zip"
    sweep     = "../../../dist/sweep.zip"
  }
}

variable "pools" {
  description = "GroupWise server pools, by name (see modules/pool for each field)."
  type = map(object({
    groupwise_host             = string
    groupwise_port             = optional(number, 8300)
    max_sessions               = optional(number, 0)
    idle_timeout_seconds       = optional(number, 0)
    inactivity_timeout_seconds = optional(number, 0)
    protocol_limit             = optional(number, 5120)
    groupwise_ca_ref           = optional(string)
    groupwise_pin_sha256       = optional(string)
  }))
  default = {}
}

variable "deletion_protection_enabled" {
  description = "Protect the table from deletion."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified by the alarms (docs/operations.md says what each means)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags on every resource (provider default_tags)."
  type        = map(string)
  default     = { Project = "collabgw" }
}
