terraform {
  # 1.10 brings S3-native state locking (`use_lockfile`), used by the backend below.
  required_version = "~> 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Remote state. Until this block is enabled, state is kept in a local
  # terraform.tfstate file: fine for a first try, not for a team.
  # To enable it:
  #   1. Create a versioned, encrypted S3 bucket for state, once, outside this
  #      configuration (the state cannot live in a bucket it creates itself).
  #   2. Uncomment the block and set `bucket` and `region`.
  #   3. Run `terraform init -migrate-state`.
  # One key per environment keeps staging and production apart, e.g.
  #   terraform init -backend-config="key={{ cookiecutter.project_slug }}/production/terraform.tfstate"
  #
  # backend "s3" {
  #   bucket       = "CHANGE-ME-terraform-state"
  #   key          = "{{ cookiecutter.project_slug }}/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  # Every resource that supports tags gets these; `var.tags` adds to or overrides them.
  default_tags {
    tags = local.tags
  }
}
