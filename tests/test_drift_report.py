"""The `drift_report` answer, rendered by both engines: `evidently` adds Evidently's report
module, its tests and its pins, imported by the drift command alone; `builtin` leaves no
trace of Evidently. (Every pair of answers is rendered by test_render.py; the evidently
project runs for real in test_drift_report_e2e.py.)"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from bake import ANSWERS_FILE, ENGINES, mentions, render, template_leftovers, tree_differences

CHOICES = ("builtin", "evidently")
PACKAGE = "my_ml_project"  # from the default project name
# The files only an evidently project has, by their rendered paths.
EVIDENTLY_FILES = (f"src/{PACKAGE}/evidently_report.py", "tests/test_evidently_report.py")


Projects = dict[str, dict[str, Path]]  # choice -> engine -> project


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Projects:
    """Each choice with every other answer at its default, by both engines."""
    return {
        choice: {
            engine: render(engine, tmp_path_factory.mktemp(f"{choice}-{engine}"),
                           drift_report=choice)
            for engine in ENGINES
        }
        for choice in CHOICES
    }


@pytest.mark.parametrize("choice", CHOICES)
def test_engines_render_the_same_tree(projects: Projects, choice: str) -> None:
    by_engine = projects[choice]
    assert tree_differences(by_engine["cookiecutter"], by_engine["copier"]) == []
    assert template_leftovers(by_engine["cookiecutter"]) == []
    answers = yaml.safe_load((by_engine["copier"] / ANSWERS_FILE).read_text())
    assert answers["drift_report"] == choice


@pytest.mark.parametrize("choice", CHOICES)
def test_evidently_files_exist_only_when_chosen(projects: Projects, choice: str) -> None:
    project = projects[choice]["cookiecutter"]
    present = [relpath for relpath in EVIDENTLY_FILES if (project / relpath).is_file()]
    assert present == (list(EVIDENTLY_FILES) if choice == "evidently" else [])


def test_builtin_leaves_no_mention_of_evidently(projects: Projects) -> None:
    for project in projects["builtin"].values():
        assert mentions(project, "evidently") == []


def specifiers(project: Path) -> dict[str, set[str]]:
    """Each dependency's version specifiers, over all the lines that name it."""
    found: dict[str, set[str]] = {}
    for spec in tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(spec)
        found.setdefault(requirement.name, set()).update(map(str, requirement.specifier))
    return found


def test_evidently_pins_its_versions_with_reasons(projects: Projects) -> None:
    """evidently >= the version whose API the module calls, and pandas < 3 (0.7.23 fails
    to import with pandas 3), the reason in a comment beside the pin; a builtin project
    keeps pandas 3."""
    assert "<3" not in specifiers(projects["builtin"]["cookiecutter"])["pandas"]
    project = projects["evidently"]["cookiecutter"]
    pinned = specifiers(project)
    assert pinned["evidently"] == {">=0.7.23"}
    assert "<3" in pinned["pandas"]
    text = (project / "pyproject.toml").read_text()
    before_pin = text[: text.index('"pandas<3"')].splitlines()[-3:]
    assert any("fails at import with pandas 3" in line for line in before_pin), before_pin


def imports_of(source: str) -> list[tuple[str, str | None]]:
    """Every module a file imports, with the function (or None: module level) that does."""
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.append(("." * child.level + (child.module or ""), function))
            visit(child, function)

    visit(ast.parse(source), None)
    return found


@pytest.mark.parametrize("choice", CHOICES)
def test_only_the_drift_command_imports_evidently(projects: Projects, choice: str) -> None:
    """Evidently costs seconds to import: the module that uses it is the only importer, and
    only `cli.run_drift` imports that module, when it runs. Serving never loads it."""
    package = projects[choice]["cookiecutter"] / "src" / PACKAGE
    evidently_importers, report_importers = set(), set()
    for path in package.rglob("*.py"):
        relpath = path.relative_to(package).as_posix()
        for module, function in imports_of(path.read_text()):
            if re.match(r"evidently(\.|$)", module):
                evidently_importers.add((relpath, function))
            if module.endswith("evidently_report"):
                report_importers.add((relpath, function))
    if choice == "builtin":
        assert (evidently_importers, report_importers) == (set(), set())
    else:
        assert {relpath for relpath, _ in evidently_importers} == {"evidently_report.py"}
        assert report_importers == {("cli.py", "run_drift")}
