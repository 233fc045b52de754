"""Fast tier: both engines render the same, well-formed project for a spread of answers."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bake import (
    ANSWERS_FILE, ENGINES, project_files, project_texts, render, template_leftovers,
    template_snapshot, tree_differences, unparsable_files,
)

# Every python_version and every license appears at least once.
VARIANTS = {
    "defaults": {},
    "py312-apache": {"python_version": "3.12", "license": "Apache-2.0"},
    "py313-bsd": {"python_version": "3.13", "license": "BSD-3-Clause"},
    "unusual-proprietary": {
        "project_name": "Churn Model 2",
        "package_name": "churn_model2",
        "author_name": "Zoë O'Brien",
        "description": "Predicts customers' churn: ünïcode, colons & ampersands.",
        "license": "Proprietary",
    },
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def projects(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One project per engine for the variant, shared by every check below."""
    answers = VARIANTS[request.param]
    return {
        engine: render(engine, tmp_path_factory.mktemp(f"{engine}-{request.param}"), **answers)
        for engine in ENGINES
    }


def test_engines_render_identical_trees(projects: dict[str, Path]) -> None:
    assert ANSWERS_FILE not in project_files(projects["cookiecutter"])
    assert (projects["copier"] / ANSWERS_FILE).is_file()
    assert tree_differences(projects["cookiecutter"], projects["copier"]) == []


def test_copier_answers_file_records_the_questions_only(projects: dict[str, Path]) -> None:
    """Hidden values (copyright_year, the cookiecutter mapping) stay out of the answers."""
    answers = yaml.safe_load((projects["copier"] / ANSWERS_FILE).read_text())
    questions = [
        name for name in json.loads((template_snapshot() / "cookiecutter.json").read_text())
        if not name.startswith("_")
    ]
    assert sorted(answers) == sorted([*questions, "_src_path"])


@pytest.mark.parametrize("engine", ENGINES)
def test_no_template_syntax_left(projects: dict[str, Path], engine: str) -> None:
    assert template_leftovers(projects[engine]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_data_files_parse(projects: dict[str, Path], engine: str) -> None:
    assert unparsable_files(projects[engine]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_python_files_compile(projects: dict[str, Path], engine: str) -> None:
    for name, text in project_texts(projects[engine]).items():
        if name.endswith(".py"):
            compile(text, name, "exec")


@pytest.mark.parametrize("engine", ENGINES)
def test_flake8_passes(projects: dict[str, Path], engine: str) -> None:
    """flake8 reads the generated project's own .flake8 when run from the project."""
    lint = subprocess.run(
        [sys.executable, "-m", "flake8", "."],
        cwd=projects[engine], capture_output=True, text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("with_uv", [True, False], ids=["uv", "pip"])
def test_install_uses_uv_when_present_and_pip_otherwise(
    projects: dict[str, Path], with_uv: bool, tmp_path: Path
) -> None:
    """`make -n install` shows the commands the generated Makefile would run."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("make", "python3", "sh", "bash", "env"):
        found = shutil.which(tool)
        assert found, f"{tool} is not on PATH"
        (tools / tool).symlink_to(found)
    if with_uv:
        (tools / "uv").symlink_to(Path(sys.executable).parent / "uv")  # the template's venv
    dry_run = subprocess.run(
        ["make", "-n", "install", "VENV=.venv-test"], cwd=projects["copier"],
        env={"PATH": str(tools)}, capture_output=True, text=True, check=True,
    ).stdout
    if with_uv:
        assert "uv venv" in dry_run and "uv pip install" in dry_run and "-m pip" not in dry_run
    else:
        assert "-m venv" in dry_run and "-m pip install -e" in dry_run and "uv " not in dry_run
