"""Fast tier: both engines render the same, well-formed project over the option matrix.

The variants are a pairwise covering set of every choice question (tests/matrix.py: every
pair of answers some supported combination allows is rendered at least once; its first row
is the defaults), plus one set of unusual free-text answers. Each variant is rendered by
both engines; once the trees are shown identical, the remaining checks read one of them.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from bake import (
    ANSWERS_FILE, ENGINES, LINT_COMMANDS, capture, jinja_compiling_every_time, project_files,
    project_texts, render, template_leftovers, template_snapshot, tree_differences,
    unparsable_files,
)
from matrix import choice_questions, pairs, pairwise_rows, required_pairs

PAIRWISE = pairwise_rows()
VARIANTS: dict[str, dict[str, Any]] = {
    **{f"pairwise-{number:02d}": row for number, row in enumerate(PAIRWISE, start=1)},
    "unusual-text": {
        "project_name": "Churn Model 2",
        "package_name": "churn_model2",
        "author_name": "Zoë O'Brien",
        "description": "Predicts customers' churn: ünïcode, colons & ampersands.",
        "license": "Proprietary",
        "dependency_manager": "pip",
    },
}


def test_pairwise_set_covers_every_allowed_pair() -> None:
    """Checked against the full product, so a wrong generator cannot pass unnoticed."""
    questions = choice_questions()
    covered = set().union(*(pairs(row) for row in PAIRWISE))
    assert required_pairs() - covered == set()
    assert PAIRWISE[0] == {name: choices[0] for name, choices in questions.items()}
    license_by_model = len(questions["license"]) * len(questions["model"])
    assert license_by_model <= len(PAIRWISE) <= license_by_model + 3, "close to the minimum"


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
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


def test_copier_answers_file_records_the_questions_only(
    projects: dict[str, Path], answers: dict[str, Any]
) -> None:
    """Hidden values (copyright_year, the cookiecutter mapping) stay out of the answers, and
    `cloud` is only asked, so only recorded, with Terraform."""
    recorded = yaml.safe_load((projects["copier"] / ANSWERS_FILE).read_text())
    questions = [
        name for name in json.loads((template_snapshot() / "cookiecutter.json").read_text())
        if not name.startswith("_")
        and (name != "cloud" or answers.get("include_terraform", True))
    ]
    assert sorted(recorded) == sorted([*questions, "_src_path"])
    asked = {name: value for name, value in answers.items() if name in questions}
    assert {name: recorded[name] for name in asked} == asked


def test_no_template_syntax_left(projects: dict[str, Path]) -> None:
    assert template_leftovers(projects["cookiecutter"]) == []


def test_data_files_parse(projects: dict[str, Path]) -> None:
    assert unparsable_files(projects["cookiecutter"]) == []


def test_python_files_compile(projects: dict[str, Path]) -> None:
    for name, text in project_texts(projects["cookiecutter"]).items():
        if name.endswith(".py"):
            compile(text, name, "exec")


def test_chosen_linter_passes(projects: dict[str, Path], answers: dict[str, Any]) -> None:
    lint = capture(LINT_COMMANDS[answers["linter"]], cwd=projects["cookiecutter"])
    assert lint.returncode == 0, lint.stdout + lint.stderr


def dry_run_install(project: Path, tools: Path) -> str:
    """The commands `make -n install` prints with PATH holding only `tools`."""
    return subprocess.run(
        ["make", "-n", "install", "VENV=.venv-test"], cwd=project,
        env={"PATH": str(tools)}, capture_output=True, text=True, check=True,
    ).stdout


@pytest.mark.parametrize("uv_on_path", [True, False], ids=["uv-on-path", "no-uv-on-path"])
def test_install_uses_the_chosen_dependency_manager(
    projects: dict[str, Path], answers: dict[str, Any], uv_on_path: bool, tmp_path: Path
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
            f"{tools}/uv pip install --compile-bytecode --python {venv}/bin/python {editable}",
        ]
    else:
        assert commands == [
            f"test -x {venv}/bin/python || python3 -m venv .venv-test",
            f"test -x {venv}/bin/uv || {venv}/bin/python -m pip install --quiet"
            " --disable-pip-version-check uv",
            f"{venv}/bin/uv pip install --compile-bytecode --python {venv}/bin/python {editable}",
        ]


@pytest.mark.parametrize("engine", ENGINES)
def test_compile_cache_changes_no_byte_of_a_render(engine: str, tmp_path: Path) -> None:
    """bake caches Jinja's compile step to speed the tests up; renders must not notice."""
    answers = {"problem_type": "regression", "model": "linear", "include_airflow": False}
    render(engine, tmp_path / "warm", **answers)  # every source compiled and cached
    cached = project_files(render(engine, tmp_path / "cached", **answers))
    with jinja_compiling_every_time():
        uncached = project_files(render(engine, tmp_path / "uncached", **answers))
    assert cached.keys() == uncached.keys()
    assert [name for name in cached if cached[name].read_bytes() != uncached[name].read_bytes()
            ] == []


def test_compile_cache_keeps_environments_with_other_settings_apart() -> None:
    source = "{% if true %}\n  kept\n{% endif %}\n"
    plain = jinja2.Environment().from_string(source).render()
    trimmed = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(source)
    assert (plain, trimmed.render()) == ("\n  kept\n", "  kept\n")
