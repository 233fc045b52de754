data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # S3 bucket names allow no underscores; the account id makes the name globally unique
  # and keeps it within the 63 characters S3 allows (36 + 11 + 13 at most).
  name        = "${replace(var.project_name, "_", "-")}-${var.environment}"
  account_id  = data.aws_caller_identity.current.account_id
  bucket_name = "${local.name}-${local.account_id}"

  tags = merge(
    {
      Project     = var.project_name
      Environment = var.environment
      ManagedBy   = "terraform"
    },
    var.tags,
  )
}

# ---------------------------------------------------------------------------------------
# KMS: one customer-managed key for the artifact bucket{% if cookiecutter.include_docker %}, the image repository, the training
# job's logs{% endif %} and the SageMaker notebook instance's volume

resource "aws_kms_key" "artifacts" {
  description             = "${local.name}: model artifacts{% if cookiecutter.include_docker %}, DVC remote, container images and training logs{% else %} and DVC remote{% endif %}"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days

  # The default key policy: the account's IAM policies decide who may use the key, so the
  # roles' policies below are what grant them Decrypt/GenerateDataKey.{% if cookiecutter.include_docker %} CloudWatch Logs
  # is a service principal, not an IAM identity: the second statement lets it encrypt the
  # training job's log group (training_job.tf), and no other.{% endif %}
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
{%- if cookiecutter.include_docker %}
      {
        Sid       = "TrainingLogGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${local.account_id}:log-group:${local.training_log_group}"
          }
        }
      },
{%- endif %}
    ]
  })
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${local.name}-artifacts"
  target_key_id = aws_kms_key.artifacts.key_id
}

# ---------------------------------------------------------------------------------------
# S3: model artifacts (MLflow, under mlflow/) and the DVC remote (under dvc/)

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Server access logs need a second bucket that would itself need logging; use CloudTrail data events if an audit trail is required
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; DVC and MLflow data can be re-pushed, and versioning protects against deletes
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications in this project; DVC and MLflow read the bucket directly
  bucket = local.bucket_name
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "tiering-and-cleanup"
    status = "Enabled"

    # An empty filter applies the rule to every object in the bucket.
    filter {}

    transition {
      days          = var.standard_ia_transition_days
      storage_class = "STANDARD_IA"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Lifecycle rules on noncurrent versions need versioning to be on first.
  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    # S3 Bucket Keys cut the KMS requests (and their cost) for many small DVC objects.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  # A bucket policy is refused while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

{% if cookiecutter.include_docker -%}
# ---------------------------------------------------------------------------------------
# ECR: the project's container images

resource "aws_ecr_repository" "app" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.artifacts.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after ${var.ecr_untagged_image_retention_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.ecr_untagged_image_retention_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the ${var.ecr_max_image_count} most recent images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_max_image_count
        }
        action = { type = "expire" }
      },
    ]
  })
}

{% endif -%}
# ---------------------------------------------------------------------------------------
# IAM: the role training jobs run as
#
# ECS tasks rather than SageMaker training jobs: the task runs {% if cookiecutter.include_docker %}the project's own image
# (training_job.tf, on Fargate) unchanged{% else %}an image of the project
# unchanged{% endif %}, the CLI's pipeline steps as its command, while
# SageMaker training needs the /opt/ml container contract. It also keeps this role
# minimal: pulling the image and writing logs is the job of the separate ECS task
# *execution* role, so the task role below only needs the data it trains on.

# Who may assume each service role: one trust policy per service principal, each the same
# statement. Confused-deputy guard: only the service's resources of this account and
# region may assume the role (aws:SourceAccount, and aws:SourceArn of `arn_service`). The
# sagemaker policy is the SageMaker role's (sagemaker.tf), the ecs_tasks one the training
# role's{% if cookiecutter.include_docker %} and the ECS task execution role's (training_job.tf){% endif %}.
locals {
  assume_role_services = {
    ecs_tasks = {
      sid         = "EcsTasksAssumeRole"
      principal   = "ecs-tasks.amazonaws.com"
      arn_service = "ecs"
    }
    sagemaker = {
      sid         = "SageMakerAssumeRole"
      principal   = "sagemaker.amazonaws.com"
      arn_service = "sagemaker"
    }
  }
}

data "aws_iam_policy_document" "assume_role" {
  for_each = local.assume_role_services

  statement {
    sid     = each.value.sid
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [each.value.principal]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:${each.value.arn_service}:${var.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "training" {
  name                 = "${local.name}-training"
  description          = "Training jobs of ${var.project_name} (${var.environment}): artifact bucket access only"
  assume_role_policy   = data.aws_iam_policy_document.assume_role["ecs_tasks"].json
  max_session_duration = 3600
}

# The artifact bucket and its key, nothing else: the training role's permissions, which
# the SageMaker role (sagemaker.tf) shares.
data "aws_iam_policy_document" "artifact_access" {
  statement {
    sid       = "ListArtifactBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  statement {
    sid    = "ReadWriteArtifactObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid    = "UseArtifactKey"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = [aws_kms_key.artifacts.arn]
  }
}

resource "aws_iam_role_policy" "training" {
  name   = "artifact-bucket-access"
  role   = aws_iam_role.training.id
  policy = data.aws_iam_policy_document.artifact_access.json
}
