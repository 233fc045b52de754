"""Optional components: every supported combination renders the same in both engines, and a
component turned off leaves neither a file nor a reference behind.

The product of the component questions is small (2^4 x 2 x 2 answers, 48 of them
supported), so every combination is rendered, not a pairwise sample.
"""

import itertools
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml

from bake import (
    ENGINES, RenderRefused, combination_rules, mentions, post_gen_hook, pre_gen_hook, render,
    template_leftovers, template_snapshot, tree_differences, unparsable_files,
)
from matrix import supported

# When each component is on, and the words that would mean a file still refers to it once
# it is off. Its paths are the post-gen hook's (`PATHS`): they live there once.
COMPONENTS: dict[str, dict[str, Any]] = {
    "docker": {
        "on": lambda answers: answers["include_docker"],
        "mentions": r"docker|ghcr\.io|\becr\b|compose\.yaml|minio|grafana|deploy/|monitoring/",
    },
    "k8s": {
        "on": lambda answers: answers["include_k8s"],
        "mentions": r"k8s|kubectl|kubernetes|kustomiz",
    },
    "terraform": {
        "on": lambda answers: answers["include_terraform"],
        "mentions": r"terraform|\.tf\b",
    },
    "airflow": {
        "on": lambda answers: answers["include_airflow"],
        "mentions": r"airflow|\bdags?\b",
    },
    "feature_store": {
        "on": lambda answers: answers["feature_store"] == "feast",
        "mentions": r"feast|feature_repo|feature.store|materiali[sz]|online.store|\bentity\b",
    },
    "github_ci": {
        "on": lambda answers: answers["ci"] == "github",
        "mentions": r"\.github|github actions|workflows?\b",
    },
    "release_workflow": {
        "on": lambda answers: answers["ci"] == "github" and answers["include_docker"],
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
    if answers["feature_store"] != "none":
        parts.append(f"fs={answers['feature_store']}")
    return "-".join([*parts, f"ci={answers['ci']}"])


ALL_COMBINATIONS = [
    {
        "include_docker": docker, "include_k8s": k8s, "include_terraform": terraform,
        "include_airflow": airflow, "feature_store": feature_store, "ci": ci,
    }
    for docker, k8s, terraform, airflow in itertools.product([True, False], repeat=4)
    for feature_store in ("none", "feast")
    for ci in ("github", "none")
]
SUPPORTED = [answers for answers in ALL_COMBINATIONS if supported(answers)]
UNSUPPORTED = [answers for answers in ALL_COMBINATIONS if not supported(answers)]


def test_matrix_size() -> None:
    assert (len(ALL_COMBINATIONS), len(SUPPORTED)) == (64, 48)


def test_component_questions_are_the_matrix_axes() -> None:
    questions = json.loads((template_snapshot() / "cookiecutter.json").read_text())
    assert {name for name in questions if name.startswith("include_")} == {
        name for name in ALL_COMBINATIONS[0] if name.startswith("include_")
    }
    assert questions["ci"] == ["github", "none"]
    assert questions["feature_store"] == ["none", "feast"]
    assert questions["cloud"] == list(CLOUD_PROVIDERS)


@pytest.fixture(scope="module")
def pre_gen(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return pre_gen_hook(tmp_path_factory.mktemp("pre-gen"))


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, ...]]:
    """What each component owns, from the post-gen hook."""
    return post_gen_hook(tmp_path_factory.mktemp("hook")).PATHS


def owned_paths(project: Path, owned: tuple[str, ...]) -> list[str]:
    """Those of a component's paths that exist in the project."""
    return [relpath for relpath in owned if (project / relpath).exists()]


def make_targets(project: Path) -> set[str]:
    """Targets `make help` lists: also proves the rendered Makefile parses."""
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=project, capture_output=True, text=True,
        check=True,
    )
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("answers", SUPPORTED, ids=map(combination_id, SUPPORTED))
def test_combination(answers: dict[str, Any], paths, tmp_path: Path) -> None:
    projects = {engine: render(engine, tmp_path / engine, **answers) for engine in ENGINES}
    assert tree_differences(projects["cookiecutter"], projects["copier"]) == []

    project = projects["cookiecutter"]
    assert template_leftovers(project) == []
    assert unparsable_files(project) == []
    assert set(COMPONENTS) == set(paths)
    for component, spec in COMPONENTS.items():
        if spec["on"](answers):
            assert owned_paths(project, paths[component]) == list(paths[component]), component
        else:
            assert owned_paths(project, paths[component]) == [], component
            assert mentions(project, spec["mentions"]) == [], component
    assert ("image" in make_targets(project)) == answers["include_docker"]
    if answers["ci"] == "none":
        assert not (project / ".github").exists()

    recorded = yaml.safe_load((projects["copier"] / ".copier-answers.yml").read_text())
    assert {name: recorded[name] for name in answers} == answers


def copier_excludes(answers: dict[str, Any]) -> set[str]:
    """The project paths copier.yml's `_exclude` skips for these answers (its templated
    entries, rendered as copier renders them: answers as variables)."""
    entries = yaml.safe_load((template_snapshot() / "copier.yml").read_text())["_exclude"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    rendered = (env.from_string(entry).render(**answers).strip() for entry in entries)
    return {entry.removeprefix("/") for entry in rendered if entry.startswith("/")}


def hook_removes(hook: ModuleType, answers: dict[str, Any], root: Path) -> set[str]:
    """The component paths the post-gen hook deletes for these answers, in a tree that
    holds every one of them (as folders: the hook deletes files and folders alike)."""
    owned = {relpath for relpaths in hook.PATHS.values() for relpath in relpaths}
    for relpath in owned:
        (root / relpath).mkdir(parents=True, exist_ok=True)
    assert hook.main(root, answers) == 0
    return {relpath for relpath in owned if not (root / relpath).exists()}


@pytest.mark.parametrize("answers", SUPPORTED, ids=map(combination_id, SUPPORTED))
def test_copier_skips_exactly_what_the_hook_removes(
    answers: dict[str, Any], tmp_path: Path
) -> None:
    """One list of paths per component (the hook's PATHS); copier.yml must follow it."""
    hook = post_gen_hook(tmp_path)
    removed = hook_removes(hook, answers, tmp_path / "project")
    excluded = copier_excludes(answers)
    owned = {relpath for relpaths in hook.PATHS.values() for relpath in relpaths}
    assert excluded <= owned, f"copier.yml skips paths no component owns: {excluded - owned}"
    covered = {p for p in owned if any(p == e or p.startswith(e + "/") for e in excluded)}
    assert covered == removed


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("answers", UNSUPPORTED, ids=map(combination_id, UNSUPPORTED))
def test_unsupported_combination_is_refused(
    engine: str, answers: dict[str, Any], tmp_path: Path, pre_gen: ModuleType
) -> None:
    """Refused with the hook's message for each rule broken (copier.yml's validators
    print theirs from the same `needs`), and nothing written."""
    broken = [
        pre_gen.needs_message(question, needed, why)
        for question, (needed, why) in combination_rules().items()
        if answers[question] and not answers[needed]
    ]
    assert broken
    with pytest.raises(RenderRefused) as refused:
        render(engine, tmp_path, **answers)
    for message in broken:
        assert message in str(refused.value)
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
