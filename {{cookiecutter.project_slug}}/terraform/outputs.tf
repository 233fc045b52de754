output "bucket_name" {
  description = "Name of the artifact bucket."
  value       = aws_s3_bucket.artifacts.bucket
}

output "bucket_arn" {
  description = "ARN of the artifact bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "dvc_remote_url" {
  description = "DVC remote: dvc remote add -d s3remote <this>."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/dvc"
}

output "mlflow_artifact_root" {
  description = "MLflow artifact root: mlflow server --artifacts-destination <this>."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/mlflow"
}

{% if cookiecutter.include_docker -%}
output "ecr_repository_url" {
  description = "Image repository: docker push <this>:<tag> (tags are immutable)."
  value       = aws_ecr_repository.app.repository_url
}

{% endif -%}
output "training_role_arn" {
  description = "ARN of the IAM role training jobs run as (ECS task role)."
  value       = aws_iam_role.training.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the bucket, the notebook volume{% if cookiecutter.include_docker %}, the image repository and the training logs{% endif %}."
  value       = aws_kms_key.artifacts.arn
}

output "sagemaker_role_arn" {
  description = "ARN of the SageMaker execution role (artifact bucket access only)."
  value       = aws_iam_role.sagemaker.arn
}

output "notebook_instance_name" {
  description = "Name of the SageMaker notebook instance (null unless notebook_enabled): aws sagemaker create-presigned-notebook-instance-url --notebook-instance-name <this>."
  value       = one(aws_sagemaker_notebook_instance.exploration[*].name)
}
