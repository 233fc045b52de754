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

# Every python_version, license, problem_type, model, linter and dependency_manager appears
# at least once, and every pair of linter and dependency_manager (tests/test_tooling_options.py
# goes further).
VARIANTS = {
    "defaults": {},
    "py312-apache-ruff-boosting": {
        "python_version": "3.12", "license": "Apache-2.0", "linter": "ruff",
        "model": "gradient_boosting",
    },
    "py313-bsd-ruff-pip-linear": {
        "python_version": "3.13", "license": "BSD-3-Clause", "linter": "ruff",
        "dependency_manager": "pip", "model": "linear",
    },
    "unusual-proprietary-pip": {
        "project_name": "Churn Model 2",
        "package_name": "churn_model2",
        "author_name": "Zoë O'Brien",
        "description": "Predicts customers' churn: ünïcode, colons & ampersands.",
        "license": "Proprietary",
        "dependency_manager": "pip",
    },
    "regression-random-forest": {"problem_type": "regression"},
    "regression-linear-ruff": {"problem_type": "regression", "model": "linear", "linter": "ruff"},
}
# The command each `linter` answer's project lints itself with, run from the project so that
# the linter reads the project's own configuration (.flake8 or pyproject.toml).
LINTERS = {
    "flake8": [sys.executable, "-m", "flake8", "."],
    "ruff": [str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "."],
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def answers(request: pytest.FixtureRequest) -> dict[str, str]:
    """The variant's answers, with the defaults of the tooling questions filled in."""
    return {"linter": "flake8", "dependency_manager": "uv", **VARIANTS[request.param]}


@pytest.fixture(scope="module")
def projects(answers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One project per engine for the variant, shared by every check below."""
    return {
        engine: render(engine, tmp_path_factory.mktemp(engine), **answers) for engine in ENGINES
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
def test_chosen_linter_passes(
    projects: dict[str, Path], answers: dict[str, str], engine: str
) -> None:
    lint = subprocess.run(
        LINTERS[answers["linter"]], cwd=projects[engine], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def dry_run_install(project: Path, tools: Path) -> str:
    """The commands `make -n install` prints with PATH holding only `tools`."""
    return subprocess.run(
        ["make", "-n", "install", "VENV=.venv-test"], cwd=project,
        env={"PATH": str(tools)}, capture_output=True, text=True, check=True,
    ).stdout


@pytest.mark.parametrize("uv_on_path", [True, False], ids=["uv-on-path", "no-uv-on-path"])
def test_install_uses_the_chosen_dependency_manager(
    projects: dict[str, Path], answers: dict[str, str], uv_on_path: bool, tmp_path: Path
) -> None:
    """`make -n install` shows the commands the generated Makefile would run.

    uv projects use the uv on PATH, else bootstrap one into a standard-library venv with its
    pip; pip projects use venv and pip whether uv is around or not, and never name uv.
    """
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("make", "python3", "sh", "bash", "env"):
        found = shutil.which(tool)
        assert found, f"{tool} is not on PATH"
        (tools / tool).symlink_to(found)
    if uv_on_path:
        (tools / "uv").symlink_to(Path(sys.executable).parent / "uv")  # the template's venv
    project = projects["copier"]
    commands = dry_run_install(project, tools).splitlines()
    venv = project.resolve() / ".venv-test"
    editable = '-e ".[dev]"'

    if answers["dependency_manager"] == "pip":
        assert commands == [
            f"test -x {venv}/bin/python || python3 -m venv .venv-test",
            f"{venv}/bin/python -m pip install {editable}",
        ]
    elif uv_on_path:
        assert commands == [
            f"test -x {venv}/bin/python || {tools}/uv venv --python python3 .venv-test",
            f"{tools}/uv pip install --python {venv}/bin/python {editable}",
        ]
    else:
        assert commands == [
            f"test -x {venv}/bin/python || python3 -m venv .venv-test",
            f"test -x {venv}/bin/uv || {venv}/bin/python -m pip install --quiet"
            " --disable-pip-version-check uv",
            f"{venv}/bin/uv pip install --python {venv}/bin/python {editable}",
        ]
