"""Unit tests of hooks/post_gen_project.py's remove_* functions, on a real rendered project.

The rendered hook's lint check lives with the other hook in test_questions.py.
"""

import shutil
from pathlib import Path
from types import ModuleType

import pytest

from bake import post_gen_hook, project_files, render


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return post_gen_hook(tmp_path_factory.mktemp("hook"))


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project generated with every component on (the defaults, and a feature store)."""
    return render("cookiecutter", tmp_path_factory.mktemp("everything"), feature_store="feast")


@pytest.fixture
def project(everything: Path, tmp_path: Path) -> Path:
    return shutil.copytree(everything, tmp_path / everything.name)


def removed_by(project: Path, action) -> set[str]:
    before = set(project_files(project))
    action(project)
    after = set(project_files(project))
    assert after <= before
    return before - after


def top_levels(paths: set[str]) -> set[str]:
    return {path.split("/")[0] for path in paths}


def test_remove_docker(hook: ModuleType, project: Path) -> None:
    removed = removed_by(project, hook.remove_docker)
    assert top_levels(removed) == {*hook.PATHS["docker"], ".github"}
    assert {path for path in removed if path.startswith(".github/")} == {
        *hook.PATHS["release_workflow"]
    }
    assert not (project / "deploy").exists() and not (project / "monitoring").exists()


def test_remove_docker_without_workflows(hook: ModuleType, project: Path) -> None:
    hook.remove_github_ci(project)
    assert top_levels(removed_by(project, hook.remove_docker)) == set(hook.PATHS["docker"])


@pytest.mark.parametrize(
    ("function", "folder"),
    [("remove_k8s", "k8s"), ("remove_terraform", "terraform"), ("remove_airflow", "airflow"),
     ("remove_feature_store", "feature_repo"), ("remove_github_ci", ".github")],
)
def test_remove_folder(hook: ModuleType, project: Path, function: str, folder: str) -> None:
    removed = removed_by(project, getattr(hook, function))
    assert removed and top_levels(removed) == {folder}
    assert not (project / folder).exists()


def test_missing_path_is_a_template_bug(hook: ModuleType, project: Path) -> None:
    hook.remove_terraform(project)
    with pytest.raises(FileNotFoundError):
        hook.remove_terraform(project)


def test_main_removes_what_the_answers_turn_off(hook: ModuleType, project: Path) -> None:
    answers = {
        "include_docker": False, "include_k8s": False, "include_terraform": True,
        "include_airflow": False, "feature_store": "none", "ci": "github",
    }
    assert hook.main(project, answers) == 0
    names = {path.name for path in project.iterdir()}
    removed = {"Dockerfile", "deploy", "monitoring", "k8s", "airflow", "feature_repo"}
    assert removed.isdisjoint(names)
    assert {"terraform", ".github", "src", "tests", "config"} <= names
    workflows = sorted(path.name for path in (project / ".github" / "workflows").iterdir())
    assert workflows == ["ci.yml", "retrain.yml", "template-update.yml"]


def test_main_keeps_everything_when_all_on(hook: ModuleType, project: Path) -> None:
    answers = {
        "include_docker": True, "include_k8s": True, "include_terraform": True,
        "include_airflow": True, "feature_store": "feast", "ci": "github",
    }
    assert removed_by(project, lambda root: hook.main(root, answers)) == set()
