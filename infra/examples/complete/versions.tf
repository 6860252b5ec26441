terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.25, < 7.0"
    }
  }

  # Keep the state remotely, with locking, as soon as more than one person
  # or a CI job applies. Create the bucket once (versioning on, public
  # access blocked), uncomment, and run `terraform init -migrate-state`.
  # use_lockfile (S3's own conditional writes) needs Terraform >= 1.10 or
  # OpenTofu >= 1.10; with older versions lock with a DynamoDB table
  # instead: dynamodb_table = "terraform-locks" (partition key LockID, S).
  #
  # backend "s3" {
  #   bucket       = "example-terraform-state"
  #   key          = "collabgw/prod/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
