variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "project_name" {
  description = "Project name: the prefix of every resource name."
  type        = string
  default     = "{{ cookiecutter.project_slug }}"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,35}$", var.project_name))
    error_message = "project_name must be 1-36 lowercase letters, digits, hyphens or underscores, starting with a letter or digit."
  }
}

variable "environment" {
  description = "Deployment environment: part of resource names and tags."
  type        = string
  default     = "staging"

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be one of dev, staging, production."
  }
}

variable "tags" {
  description = "Extra tags for every resource, merged over the default Project/Environment/ManagedBy tags."
  type        = map(string)
  default     = {}
}

variable "standard_ia_transition_days" {
  description = "Days after which current objects move to S3 STANDARD_IA."
  type        = number
  default     = 30

  validation {
    # S3 refuses a transition to STANDARD_IA earlier than 30 days after creation.
    condition     = var.standard_ia_transition_days >= 30 && floor(var.standard_ia_transition_days) == var.standard_ia_transition_days
    error_message = "standard_ia_transition_days must be a whole number of at least 30 (an S3 minimum)."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number of at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which unfinished multipart uploads are aborted and their parts deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of at least 1."
  }
}

{% if cookiecutter.include_docker -%}
variable "ecr_untagged_image_retention_days" {
  description = "Days an untagged container image is kept in ECR."
  type        = number
  default     = 14

  validation {
    condition     = var.ecr_untagged_image_retention_days >= 1 && floor(var.ecr_untagged_image_retention_days) == var.ecr_untagged_image_retention_days
    error_message = "ecr_untagged_image_retention_days must be a whole number of at least 1."
  }
}

variable "ecr_max_image_count" {
  description = "Number of most recent images ECR keeps; older ones expire."
  type        = number
  default     = 50

  validation {
    condition     = var.ecr_max_image_count >= 1 && var.ecr_max_image_count <= 10000 && floor(var.ecr_max_image_count) == var.ecr_max_image_count
    error_message = "ecr_max_image_count must be a whole number between 1 and 10000."
  }
}

{% endif -%}
variable "kms_deletion_window_days" {
  description = "Waiting period before a deleted KMS key is destroyed (AWS allows 7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number between 7 and 30."
  }
}
