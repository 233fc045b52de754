"""Optional components: every supported combination renders the same in both engines, and a
component turned off leaves neither a file nor a reference behind.

The product of the component questions is small (2^4 x 2 answers, 24 of them supported), so
every combination is rendered, not a pairwise sample.
"""

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bake import (
    ENGINES, RenderRefused, mentions, render, template_leftovers, template_snapshot,
    tree_differences, unparsable_files,
)
from matrix import supported

# What each component owns, and the words that would mean a file still refers to it once it
# is off. Paths are relative to the project; a folder stands for everything inside it.
COMPONENTS: dict[str, dict[str, Any]] = {
    "docker": {
        "on": lambda answers: answers["include_docker"],
        "paths": ["Dockerfile", ".dockerignore", "deploy", "monitoring"],
        "mentions": r"docker|ghcr\.io|\becr\b|compose\.yaml|minio|grafana|deploy/|monitoring/",
    },
    "k8s": {
        "on": lambda answers: answers["include_k8s"],
        "paths": ["k8s"],
        "mentions": r"k8s|kubectl|kubernetes|kustomiz",
    },
    "terraform": {
        "on": lambda answers: answers["include_terraform"],
        "paths": ["terraform"],
        "mentions": r"terraform|\.tf\b",
    },
    "airflow": {
        "on": lambda answers: answers["include_airflow"],
        "paths": ["airflow"],
        "mentions": r"airflow|\bdags?\b",
    },
    "github-ci": {
        "on": lambda answers: answers["ci"] == "github",
        "paths": [".github/workflows/ci.yml", ".github/workflows/retrain.yml",
                  ".github/workflows/template-update.yml"],
        "mentions": r"\.github|github actions|workflows?\b",
    },
    "release-workflow": {
        "on": lambda answers: answers["ci"] == "github" and answers["include_docker"],
        "paths": [".github/workflows/cd.yml"],
        "mentions": r"cd\.yml",
    },
}
# Provider source each `cloud` choice pins in terraform/versions.tf.
CLOUD_PROVIDERS = {"aws": "hashicorp/aws"}


def combination_id(answers: dict[str, Any]) -> str:
    parts = [
        name.removeprefix("include_") for name in
        ("include_docker", "include_k8s", "include_terraform", "include_airflow")
        if answers[name]
    ]
    return "-".join([*parts, f"ci={answers['ci']}"])


ALL_COMBINATIONS = [
    {
        "include_docker": docker, "include_k8s": k8s, "include_terraform": terraform,
        "include_airflow": airflow, "ci": ci,
    }
    for docker, k8s, terraform, airflow in itertools.product([True, False], repeat=4)
    for ci in ("github", "none")
]
SUPPORTED = [answers for answers in ALL_COMBINATIONS if supported(answers)]
UNSUPPORTED = [answers for answers in ALL_COMBINATIONS if not supported(answers)]
K8S_NEEDS_DOCKER = (
    "include_k8s: Kubernetes runs the service's container image, so it needs include_docker"
)


def test_matrix_size() -> None:
    assert (len(ALL_COMBINATIONS), len(SUPPORTED)) == (32, 24)


def test_component_questions_are_the_matrix_axes() -> None:
    questions = json.loads((template_snapshot() / "cookiecutter.json").read_text())
    assert {name for name in questions if name.startswith("include_")} == {
        name for name in ALL_COMBINATIONS[0] if name.startswith("include_")
    }
    assert questions["ci"] == ["github", "none"]
    assert questions["cloud"] == list(CLOUD_PROVIDERS)


def owned_paths(project: Path, component: str) -> list[str]:
    """The component's paths that exist in the project."""
    return [relpath for relpath in COMPONENTS[component]["paths"] if (project / relpath).exists()]


def make_targets(project: Path) -> set[str]:
    """Targets `make help` lists: also proves the rendered Makefile parses."""
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=project, capture_output=True, text=True,
        check=True,
    )
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("answers", SUPPORTED, ids=map(combination_id, SUPPORTED))
def test_combination(answers: dict[str, Any], tmp_path: Path) -> None:
    projects = {engine: render(engine, tmp_path / engine, **answers) for engine in ENGINES}
    assert tree_differences(projects["cookiecutter"], projects["copier"]) == []

    project = projects["cookiecutter"]
    assert template_leftovers(project) == []
    assert unparsable_files(project) == []
    for component, spec in COMPONENTS.items():
        if spec["on"](answers):
            assert owned_paths(project, component) == spec["paths"], component
        else:
            assert owned_paths(project, component) == [], component
            assert mentions(project, spec["mentions"]) == [], component
    assert ("image" in make_targets(project)) == answers["include_docker"]
    if answers["ci"] == "none":
        assert not (project / ".github").exists()

    recorded = yaml.safe_load((projects["copier"] / ".copier-answers.yml").read_text())
    assert {name: recorded[name] for name in answers} == answers


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("answers", UNSUPPORTED, ids=map(combination_id, UNSUPPORTED))
def test_unsupported_combination_is_refused(
    engine: str, answers: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(RenderRefused) as refused:
        render(engine, tmp_path, **answers)
    assert K8S_NEEDS_DOCKER in str(refused.value)
    assert list(tmp_path.iterdir()) == [], "a refused answer left output behind"


@pytest.mark.parametrize("engine", ENGINES)
def test_yes_no_words_work_for_cookiecutter_style_answers(engine: str, tmp_path: Path) -> None:
    """`cookiecutter . include_airflow=no` and `copier -d include_airflow=no` both work."""
    project = render(engine, tmp_path, include_airflow="no", include_terraform="yes")
    assert not (project / "airflow").exists()
    assert (project / "terraform").is_dir()


@pytest.mark.parametrize("cloud", CLOUD_PROVIDERS)
def test_terraform_provider_follows_cloud(cloud: str, tmp_path: Path) -> None:
    versions = (render("copier", tmp_path, cloud=cloud) / "terraform" / "versions.tf").read_text()
    assert f'source  = "{CLOUD_PROVIDERS[cloud]}"' in versions


def test_copier_does_not_ask_cloud_without_terraform(tmp_path: Path) -> None:
    project = render("copier", tmp_path, include_terraform=False)
    assert "cloud" not in yaml.safe_load((project / ".copier-answers.yml").read_text())
