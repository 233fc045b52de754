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

variable "notebook_enabled" {
  description = "Create the SageMaker notebook instance (billed while it runs); it needs the notebook_subnet_id, notebook_security_group_ids and notebook_git_repository_url variables."
  type        = bool
  default     = false
}

variable "notebook_instance_type" {
  description = "SageMaker instance type of the notebook instance."
  type        = string
  default     = "ml.t3.medium"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", var.notebook_instance_type))
    error_message = "notebook_instance_type must be a SageMaker instance type such as ml.t3.medium."
  }
}

variable "notebook_platform_identifier" {
  description = "Operating system and JupyterLab version of the notebook instance."
  type        = string
  default     = "notebook-al2-v3"

  validation {
    condition     = can(regex("^notebook-al[0-9]+-v[0-9]+$", var.notebook_platform_identifier))
    error_message = "notebook_platform_identifier must be a SageMaker platform such as notebook-al2-v3."
  }
}

variable "notebook_volume_size_gb" {
  description = "Size of the notebook instance's storage volume (encrypted with the project's KMS key), in GB."
  type        = number
  default     = 20

  validation {
    condition     = var.notebook_volume_size_gb >= 5 && var.notebook_volume_size_gb <= 16384 && floor(var.notebook_volume_size_gb) == var.notebook_volume_size_gb
    error_message = "notebook_volume_size_gb must be a whole number between 5 and 16384."
  }
}

variable "notebook_subnet_id" {
  description = "Subnet of the notebook instance (it has no direct internet access: a NAT gateway or VPC endpoints give it git, S3 and package indexes)."
  type        = string
  default     = null

  validation {
    condition     = var.notebook_subnet_id == null || can(regex("^subnet-([0-9a-f]{8}|[0-9a-f]{17})$", var.notebook_subnet_id))
    error_message = "notebook_subnet_id must be a subnet id (subnet-0123456789abcdef0)."
  }
}

variable "notebook_security_group_ids" {
  description = "Security groups of the notebook instance's network interface."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.notebook_security_group_ids) <= 5 && alltrue([for id in var.notebook_security_group_ids : can(regex("^sg-([0-9a-f]{8}|[0-9a-f]{17})$", id))])
    error_message = "notebook_security_group_ids must be at most 5 security group ids (sg-0123456789abcdef0)."
  }
}

variable "notebook_git_repository_url" {
  description = "The project's git repository (https URL): the notebook instance's default code repository."
  type        = string
  default     = null

  validation {
    condition     = var.notebook_git_repository_url == null || can(regex("^https://[^[:space:]]+$", var.notebook_git_repository_url))
    error_message = "notebook_git_repository_url must be an https:// URL."
  }
}

variable "notebook_git_branch" {
  description = "Branch the notebook instance checks out."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.notebook_git_branch))
    error_message = "notebook_git_branch must be a branch name (letters, digits, . _ / -)."
  }
}

variable "notebook_git_secret_arn" {
  description = "Secrets Manager secret with the username and password (token) of a private repository; null for a public one. The SageMaker role may read this secret only."
  type        = string
  default     = null

  validation {
    condition     = var.notebook_git_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.notebook_git_secret_arn))
    error_message = "notebook_git_secret_arn must be a Secrets Manager secret ARN."
  }
}
