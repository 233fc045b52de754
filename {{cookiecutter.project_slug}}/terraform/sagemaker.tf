# ---------------------------------------------------------------------------------------
# SageMaker: an execution role for SageMaker work on the project's data, and a notebook
# instance for exploration (off by default: `-var notebook_enabled=true` and its network
# variables). Training itself runs {% if cookiecutter.include_docker %}as the ECS task of training_job.tf{% else %}through the project's pipeline (`make pipeline`){% endif %};
# the notebook is for looking at the data and the models, next to the same code.

# Trusted by SageMaker alone: the sagemaker trust policy of main.tf (assume_role).
resource "aws_iam_role" "sagemaker" {
  name                 = "${local.name}-sagemaker"
  description          = "SageMaker execution role of ${var.project_name} (${var.environment}): artifact bucket access only"
  assume_role_policy   = data.aws_iam_policy_document.assume_role["sagemaker"].json
  max_session_duration = 3600
}

# The artifact bucket and its key, as for training jobs; plus the one secret holding a
# private repository's credentials, when one is given.
data "aws_iam_policy_document" "sagemaker" {
  source_policy_documents = [data.aws_iam_policy_document.artifact_access.json]

  dynamic "statement" {
    for_each = var.notebook_git_secret_arn == null ? [] : [var.notebook_git_secret_arn]

    content {
      sid       = "ReadGitCredentials"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "artifact-bucket-access"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# The project's git repository, cloned into the notebook instance as its default code
# repository. A private repository needs `notebook_git_secret_arn`: a Secrets Manager
# secret with `username` and `password` (a personal access token) keys.
resource "aws_sagemaker_code_repository" "project" {
  count = var.notebook_enabled ? 1 : 0

  code_repository_name = local.name

  git_config {
    repository_url = var.notebook_git_repository_url
    branch         = var.notebook_git_branch
    secret_arn     = var.notebook_git_secret_arn
  }

  lifecycle {
    precondition {
      condition     = var.notebook_git_repository_url != null
      error_message = "notebook_enabled needs notebook_git_repository_url: the project's git repository (https://...)."
    }
  }
}

resource "aws_sagemaker_notebook_instance" "exploration" {
  count = var.notebook_enabled ? 1 : 0

  name                    = "${local.name}-notebook"
  role_arn                = aws_iam_role.sagemaker.arn
  instance_type           = var.notebook_instance_type
  platform_identifier     = var.notebook_platform_identifier
  volume_size             = var.notebook_volume_size_gb
  kms_key_id              = aws_kms_key.artifacts.arn
  default_code_repository = aws_sagemaker_code_repository.project[0].code_repository_name

  # Inside the VPC only: no direct internet access (the subnet's NAT gateway or VPC
  # endpoints reach git, S3 and package indexes), no root for notebook users, and the
  # instance metadata service only through IMDSv2 sessions.
  subnet_id              = var.notebook_subnet_id
  security_groups        = var.notebook_security_group_ids
  direct_internet_access = "Disabled"
  root_access            = "Disabled"

  instance_metadata_service_configuration {
    minimum_instance_metadata_service_version = "2"
  }

  lifecycle {
    precondition {
      condition     = var.notebook_subnet_id != null && length(var.notebook_security_group_ids) > 0
      error_message = "notebook_enabled needs notebook_subnet_id and notebook_security_group_ids: the instance has no direct internet access, so it runs in your VPC."
    }
  }
}
