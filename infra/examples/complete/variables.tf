variable "region" {
  description = "AWS region to deploy to."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the deployment; names or prefixes every resource. Use one per environment in an account (collabgw-prod, collabgw-staging); names that IAM and CloudWatch keep account-wide (roles, dashboard) also carry the region."
  type        = string
  default     = "collabgw"

  # Lower case for the ECR repository (<name>-edge), at most 21 characters
  # so that <name>-edge fits load balancer and target group names.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3 to 21 lower-case letters, digits or inner single '-', starting with a letter."
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

variable "load_balancer_ip_address_type" {
  description = "ipv4, or dualstack when device_cidr_blocks holds IPv6 networks (the public subnets then need IPv6 CIDRs)."
  type        = string
  default     = "ipv4"
}

variable "device_cidr_blocks" {
  description = "Networks allowed to reach the device port 3101 (IPv4 or IPv6)."
  type        = list(string)
}

variable "groupwise_cidr_blocks" {
  description = "Networks of the GroupWise Messenger servers (IPv4 or IPv6)."
  type        = list(string)
}

variable "edge_image_digest" {
  description = "Digest (sha256:...) of the edge image pushed to the deployment's ECR repository: what `collabgw image --push` prints (`make deploy` writes it to edge.auto.tfvars.json). Null only for the first, targeted apply that creates the repository."
  type        = string
  default     = null
}

variable "edge_task_cpu" {
  description = "CPU units of an edge task (1024 = one vCPU)."
  type        = number
  default     = 512
}

variable "edge_task_memory" {
  description = "Memory of an edge task in MiB; a Fargate size for edge_task_cpu."
  type        = number
  default     = 1024
}

variable "gateway_key_secret_name" {
  description = "Secrets Manager secret with the gateway's Noise static private key; null: <name>/gateway-key."
  type        = string
  default     = null
}

variable "peer_key_secret_name" {
  description = "Secrets Manager secret with the edge tasks' task-to-task link key; null: <name>/peer-key."
  type        = string
  default     = null
}

variable "gateway_key_next_secret_name" {
  description = "During a gateway key rotation: the secret with the next gateway key (infra/README.md); null otherwise."
  type        = string
  default     = null
}

variable "peer_key_next_secret_name" {
  description = "During a task-to-task key rotation: the secret with the next key (infra/README.md); null otherwise."
  type        = string
  default     = null
}

variable "groupwise_ca_secret_arns" {
  description = "More Secrets Manager secrets (ARNs) holding GroupWise CA bundles the edge may read, besides those the pools name in groupwise_ca_ref (found automatically)."
  type        = list(string)
  default     = []
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

variable "sweep_reserved_concurrency" {
  description = "Reserved concurrency of the sweep function; null reserves none (see the Lambda concurrency note in infra/README.md)."
  type        = number
  default     = null
}

variable "deletion_protection_enabled" {
  description = "Protect the table from deletion."
  type        = bool
  default     = true
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the edge's ECR repository with its images (for tearing a test deployment down)."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (it must confirm the subscription); null: none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "alarm_actions" {
  description = "More SNS topic ARNs the alarms notify, besides the deployment's own topic (docs/operations.md says what each alarm means)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags on every resource (provider default_tags)."
  type        = map(string)
  default     = { Project = "collabgw" }
}
