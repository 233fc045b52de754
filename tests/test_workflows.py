"""Fast tier: the generated GitHub Actions workflows pass the real validators.

check-jsonschema checks each workflow against GitHub's workflow schema, actionlint lints
them (expressions, job graph, action inputs, outdated action majors) and zizmor audits them
for security findings, all offline. Structural checks hold the workflows to the project's
rules (actions pinned by commit SHA, no default token permissions, timeouts, no persisted
credentials) and keep the commands they run in agreement with the generated Makefile, CLI
and Kubernetes overlays. Nothing here reaches GitHub.
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bake import ENGINES, capture, dev_tool, render

WORKFLOWS = ("cd.yml", "ci.yml", "retrain.yml", "template-update.yml")
# Both engines with the defaults, a slug that is no valid Kubernetes name as it is, and the
# component answers that change the workflows: no Kubernetes (cd.yml only pushes the image)
# and no Docker (no image job, no cd.yml).
CASES = {
    **{engine: (engine, {}) for engine in ENGINES},
    "underscore-slug-py313": ("copier", {"project_slug": "churn_model", "python_version": "3.13"}),
    "no-k8s": ("cookiecutter", {"include_k8s": False}),
    "no-docker": ("copier", {"include_docker": False, "include_k8s": False}),
    "pip": ("copier", {"dependency_manager": "pip"}),
}
DEPLOYS = {case for case, (_, answers) in CASES.items() if answers.get("include_k8s", True)}
BUILDS_IMAGES = {
    case for case, (_, answers) in CASES.items() if answers.get("include_docker", True)
}
# zizmor findings silenced in the workflows with `# zizmor: ignore[...]`, each with its
# reason written there. A new one has to be added here on purpose.
EXPECTED_ZIZMOR_IGNORES: set[str] = set()
# The only write permissions granted, per (workflow, job); every other job reads contents.
WRITE_PERMISSIONS = {
    ("cd.yml", "image"): {"contents": "read", "packages": "write"},
    ("retrain.yml", "retrain"): {"contents": "write", "pull-requests": "write"},
}
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1"
}
# Workflows that keep a dependency cache between runs; the others install from scratch
# (a release, and the model a retraining run proposes, never depend on a restored cache).
CACHED_INSTALLS = {"ci.yml"}
# `uses: owner/repo[/path]@<40 hex> # vX.Y.Z`, and nothing else on the line.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(.*?)\s*$", re.MULTILINE)
ZIZMOR_IGNORE = re.compile(r"#\s*zizmor:\s*ignore\[([^\]]+)\]")
MAKE = re.compile(r"(?<![\w/.-])make\s+([a-z][\w-]*)")


# ---------------------------------------------------------------------------------------
# What the workflows say


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:  # YAML 1.1 reads the key `on` as a boolean
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def scripts(workflow: dict[str, Any]) -> str:
    return "\n".join(step["run"] for step in steps(workflow) if "run" in step)


def unpinned(text: str) -> list[str]:
    """`uses:` references not pinned by full commit SHA with a `# vX.Y.Z` comment."""
    return [ref for ref in USES.findall(text) if not PINNED.match(ref)]


def structural_problems(name: str, text: str) -> list[str]:
    """The project's rules for one workflow, as a list of broken ones (empty: all kept)."""
    workflow = yaml.safe_load(text)
    problems = [f"unpinned action: {ref}" for ref in unpinned(text)]
    if workflow.get("permissions") != {}:
        problems.append("top-level `permissions: {}` missing")
    for job_id, job in workflow["jobs"].items():
        if not isinstance(job.get("timeout-minutes"), int):
            problems.append(f"{job_id}: no timeout-minutes")
        expected = WRITE_PERMISSIONS.get((name, job_id), {"contents": "read"})
        if job.get("permissions") != expected:
            problems.append(f"{job_id}: permissions {job.get('permissions')} != {expected}")
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                if step.get("with", {}).get("persist-credentials") is not False:
                    problems.append(f"{job_id}: checkout persists credentials")
            if "secrets." in step.get("run", ""):
                problems.append(f"{job_id}: a secret on a command line (pass it in env:)")
    return problems


def cli_commands(project: Path) -> set[str]:
    """Subcommands of the generated CLI, from its own argument parser."""
    (package,) = (project / "src").iterdir()
    code = (
        f"from {package.name}.cli import build_parser\n"
        "print(*build_parser()._subparsers._group_actions[0].choices)"
    )
    listed = capture([sys.executable, "-c", code], cwd=project, env={"PYTHONPATH": "src"})
    assert listed.returncode == 0, listed.stderr
    return set(listed.stdout.split())


def make_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (project / "Makefile").read_text(), re.MULTILINE))


# ---------------------------------------------------------------------------------------
# Fixtures: rendered once per module


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        case: render(engine, tmp_path_factory.mktemp(case), **answers)
        for case, (engine, answers) in CASES.items()
    }


def workflow_dir(project: Path) -> Path:
    return project / ".github" / "workflows"


def expected_workflows(case: str) -> list[str]:
    return [name for name in WORKFLOWS if name != "cd.yml" or case in BUILDS_IMAGES]


def workflows(project: Path) -> dict[str, dict[str, Any]]:
    return {path.name: load(path) for path in sorted(workflow_dir(project).iterdir())}


# ---------------------------------------------------------------------------------------
# Validators


@pytest.mark.parametrize("case", CASES)
def test_workflows_are_rendered(projects: dict[str, Path], case: str) -> None:
    found = sorted(path.name for path in workflow_dir(projects[case]).iterdir())
    assert found == expected_workflows(case)


@pytest.mark.parametrize("case", CASES)
def test_workflows_match_github_schema(projects: dict[str, Path], case: str) -> None:
    files = [str(workflow_dir(projects[case]) / name) for name in expected_workflows(case)]
    checked = capture(
        [dev_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files]
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("case", CASES)
def test_actionlint_reports_nothing(projects: dict[str, Path], case: str) -> None:
    files = [f".github/workflows/{name}" for name in expected_workflows(case)]
    lint = capture([dev_tool("actionlint"), "-no-color", *files], cwd=projects[case])
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


@pytest.mark.parametrize("case", CASES)
def test_zizmor_reports_nothing(projects: dict[str, Path], case: str) -> None:
    audit = capture(
        [dev_tool("zizmor"), "--offline", "--format", "json", ".github/workflows/"],
        cwd=projects[case],
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout) == []
    ignored = {
        rule
        for name in expected_workflows(case)
        for rules in ZIZMOR_IGNORE.findall((workflow_dir(projects[case]) / name).read_text())
        for rule in rules.split(",")
    }
    assert ignored == EXPECTED_ZIZMOR_IGNORES


# The harness sees findings: each validator fails on a broken copy of a generated workflow.
BREAKAGES = {
    "check-jsonschema": ("ci.yml", "runs-on:", "runs_on:"),
    "actionlint": ("ci.yml", "needs: test", "needs: tests"),
    "zizmor": ("ci.yml", "setup-buildx-action@d7f5e7f509e45cec5c76c4d5afdd7de93d0b3df5 # v4.1.0",
               "setup-buildx-action@v4"),
}


@pytest.mark.parametrize("validator", BREAKAGES)
def test_validators_can_fail(
    tmp_path: Path, projects: dict[str, Path], validator: str
) -> None:
    name, old, new = BREAKAGES[validator]
    text = (workflow_dir(projects["cookiecutter"]) / name).read_text()
    assert old in text
    broken = tmp_path / ".github" / "workflows" / name
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace(old, new))
    commands = {
        "check-jsonschema": [dev_tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", str(broken)],
        "actionlint": [dev_tool("actionlint"), "-no-color", f".github/workflows/{name}"],
        "zizmor": [dev_tool("zizmor"), "--offline", ".github/workflows/"],
    }
    result = capture(commands[validator], cwd=tmp_path)
    assert result.returncode != 0
    if validator == "zizmor":
        assert "unpinned-uses" in result.stdout


# ---------------------------------------------------------------------------------------
# The project's own rules


@pytest.mark.parametrize("case", CASES)
def test_workflow_keeps_the_rules(projects: dict[str, Path], case: str) -> None:
    for name in expected_workflows(case):
        text = (workflow_dir(projects[case]) / name).read_text()
        assert structural_problems(name, text) == [], name
        assert USES.findall(text), f"{name}: no actions used"
        assert load(workflow_dir(projects[case]) / name)["env"].items() >= TELEMETRY_OFF.items()


def test_rule_checks_can_fail(projects: dict[str, Path]) -> None:
    text = (workflow_dir(projects["cookiecutter"]) / "retrain.yml").read_text()
    sha, version = re.search(r"actions/checkout@([0-9a-f]{40}) (# v[\d.]+)", text).groups()
    breakages = {
        f"actions/checkout@{sha} {version}": "actions/checkout@v6",
        f"@{sha} {version}": f"@{sha}",
        "permissions: {}": "permissions: read-all",
        "timeout-minutes: 20": "",
        "persist-credentials: false": "persist-credentials: true",
        "contents: write ": "contents: read ",
        'drift "$CURRENT_DATA"': 'drift "$CURRENT_DATA" "${{ secrets.X }}"',
    }
    for old, new in breakages.items():
        assert old in text, old
        assert structural_problems("retrain.yml", text.replace(old, new, 1)), (old, new)


@pytest.mark.parametrize("case", CASES)
def test_triggers_and_job_graph(projects: dict[str, Path], case: str) -> None:
    found = workflows(projects[case])
    ci, retrain = found["ci.yml"], found["retrain.yml"]
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    uploads = {step["with"]["name"] for step in ci["jobs"]["test"]["steps"]
               if "upload-artifact@" in step.get("uses", "")}
    assert "serving-bundle" in uploads

    if case in BUILDS_IMAGES:
        assert set(ci["jobs"]) == {"test", "docker"}
        assert ci["jobs"]["docker"]["needs"] == "test"
        (download,) = [step for step in ci["jobs"]["docker"]["steps"]
                       if "download-artifact@" in step.get("uses", "")]
        assert download["with"] == {"name": "serving-bundle", "path": "models/serving"}
        build = steps(ci)[-1]
        assert "build-push-action@" in build["uses"] and build["with"]["push"] is False

        cd = found["cd.yml"]
        assert cd["on"] == {"push": {"tags": ["v*"]}}
        assert cd["concurrency"]["cancel-in-progress"] is False
        push = cd["jobs"]["image"]["steps"][-1]
        assert "build-push-action@" in push["uses"] and push["with"]["push"] is True
    else:
        assert set(ci["jobs"]) == {"test"}

    if case in DEPLOYS:
        assert set(cd["jobs"]) == {"image", "staging", "production"}
        assert cd["jobs"]["staging"]["environment"] == "staging"
        assert cd["jobs"]["production"]["environment"] == "production"
        assert "staging" in cd["jobs"]["production"]["needs"]
    elif case in BUILDS_IMAGES:
        assert set(cd["jobs"]) == {"image"}

    assert set(retrain["on"]) == {"schedule", "workflow_dispatch"}
    assert retrain["jobs"]["retrain"]["if"] == "needs.drift.outputs.drift == 'true'"
    # The pull request shows the reviewer the metrics change, written by an earlier step.
    retrain_steps = retrain["jobs"]["retrain"]["steps"]
    (pull_request,) = [step for step in retrain_steps
                       if "create-pull-request@" in step.get("uses", "")]
    body = pull_request["with"]["body-path"]
    assert body == "${{ runner.temp }}/pull-request.md"
    writers = [step["run"] for step in retrain_steps[:retrain_steps.index(pull_request)]
               if '"$RUNNER_TEMP/pull-request.md"' in step.get("run", "")]
    assert len(writers) == 1 and "dvc metrics diff --md" in writers[0]


@pytest.mark.parametrize("case", CASES)
def test_commands_exist_in_the_project(projects: dict[str, Path], case: str) -> None:
    project = projects[case]
    slug = project.name
    run_text = "\n".join(scripts(workflow) for workflow in workflows(project).values())
    used_targets = set(MAKE.findall(run_text))
    assert used_targets >= {"install", "lint", "test", "pipeline"}
    assert used_targets <= make_targets(project)
    used_commands = set(re.findall(rf"(?<![\w-]){re.escape(slug)}\s+([a-z]+)", run_text))
    assert "drift" in used_commands
    assert used_commands <= cli_commands(project)
    assert ".venv/bin/pre-commit run --all-files" in run_text
    assert (project / ".pre-commit-config.yaml").is_file()


def dependency_manager(case: str) -> str:
    return CASES[case][1].get("dependency_manager", "uv")


@pytest.mark.parametrize("case", CASES)
def test_installs_follow_the_dependency_manager(projects: dict[str, Path], case: str) -> None:
    """Every `make install` runs after setup-python, and with uv after setup-uv, which puts
    uv on PATH for the Makefile. Only CACHED_INSTALLS keep a cache: uv's own with uv,
    setup-python's pip cache with pip."""
    manager = dependency_manager(case)
    installing_jobs = 0
    for name, workflow in workflows(projects[case]).items():
        for job_id, job in workflow["jobs"].items():
            job_steps = job.get("steps", [])
            actions = {
                index: step["uses"].split("@")[0]
                for index, step in enumerate(job_steps) if "uses" in step
            }
            setup_uv = [
                index for index, action in actions.items() if action == "astral-sh/setup-uv"
            ]
            installs = [
                index for index, step in enumerate(job_steps) if step.get("run") == "make install"
            ]
            if not installs:
                assert setup_uv == [], f"{name} {job_id}: setup-uv without make install"
                continue
            installing_jobs += 1
            (install,) = installs
            (python,) = [index for index, action in actions.items()
                         if action == "actions/setup-python"]
            python_with = job_steps[python]["with"]
            cached = name in CACHED_INSTALLS
            assert python < install, f"{name} {job_id}"
            if manager == "uv":
                (uv,) = setup_uv
                assert uv < install, f"{name} {job_id}"
                uv_with = job_steps[uv]["with"]
                assert uv_with["enable-cache"] is cached, f"{name} {job_id}: {uv_with}"
                if cached:
                    assert uv_with["cache-dependency-glob"] == "pyproject.toml"
                assert "cache" not in python_with, f"{name} {job_id}: a pip cache with uv"
            else:
                assert setup_uv == [], f"{name} {job_id}"
                expected = {"cache": "pip", "cache-dependency-path": "pyproject.toml"}
                assert {key: python_with.get(key) for key in expected} == (
                    expected if cached else dict.fromkeys(expected)
                ), f"{name} {job_id}: {python_with}"
    assert installing_jobs >= 2


@pytest.mark.parametrize("case", [case for case in CASES if dependency_manager(case) == "pip"])
def test_pip_workflows_never_name_uv(projects: dict[str, Path], case: str) -> None:
    for path in sorted(workflow_dir(projects[case]).iterdir()):
        assert not re.search(r"\buv\b", path.read_text(), re.IGNORECASE), path.name


@pytest.mark.parametrize("case", sorted(DEPLOYS))
def test_deploy_targets_exist(projects: dict[str, Path], case: str) -> None:
    """Deploy steps name an image, overlays, namespaces and a Deployment the manifests have."""
    project = projects[case]
    cd = workflows(project)["cd.yml"]
    deployment = yaml.safe_load((project / "k8s" / "base" / "deployment.yaml").read_text())
    for env in ("staging", "production"):
        job = cd["jobs"][env]
        overlay = project / "k8s" / "overlays" / env
        kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        script = "\n".join(step.get("run", "") for step in job["steps"])
        set_image = next(step for step in job["steps"] if "kustomize edit" in step.get("run", ""))
        assert set_image["working-directory"] == f"k8s/overlays/{env}"
        image = re.search(r'set image "([^=]+)=', set_image["run"]).group(1)
        assert image in {entry["name"] for entry in kustomization["images"]}
        assert f"kubectl apply -k k8s/overlays/{env}" in script
        namespace = kustomization["namespace"]
        assert (f"--namespace {namespace} rollout status "
                f"deployment/{deployment['metadata']['name']}") in script
        secret_env = [step["env"] for step in job["steps"] if "KUBE_CONFIG" in step.get("env", {})]
        assert secret_env == [{"KUBE_CONFIG": "${{ secrets.KUBE_CONFIG }}"}]
