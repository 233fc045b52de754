"""Fast tier: organisation defaults, one answers file for every engine.

docs/getting-started.md#organisation-defaults shows a platform team's answers file and the
one-line command that turns it into a cookiecutter config (`default_context`). Both are
read from the page and used as documented, through each engine's command line, against the
session's copy of the working tree: `copier copy --data-file FILE --defaults`,
`cookiecutter --config-file CONFIG --no-input`, `cruft create --config-file CONFIG
--no-input` (from a git copy: cruft renders git templates only) and copier with the
answers as `defaults:` of its settings file. Every one gives the same project, with the
team's answers; an answer given for one project wins over the file in every engine.
"""

import json
import re
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.generate import generate_context

from bake import (
    ANSWERS_FILE, GIT_ENV, TEMPLATE_DIR, capture, dev_tool, outside_make, project_files,
    render, template_snapshot, tree_differences,
)

DOCS = TEMPLATE_DIR / "docs" / "getting-started.md"
# What the docs' example file answers; each differs from the template's default.
ORG_ANSWERS = {
    "author_name": "ML Platform Team",
    "author_email": "ml-platform@example.org",
    "license": "Apache-2.0",
    "python_version": "3.12",
    "include_airflow": False,
    "ci": "none",
}
# A project's own answers, given on the command line over the team's file.
OVERRIDES = {"project_name": "Churn Model", "license": "MIT"}
CRUFT_FILE = ".cruft.json"


def docs_block(name: str) -> str:
    """The fenced block after `<!-- org-defaults: NAME -->` on the getting-started page."""
    found = re.search(
        rf"<!-- org-defaults: {re.escape(name)} -->\s*```\w+\n(.*?)```", DOCS.read_text(),
        re.DOTALL,
    )
    assert found, f"{DOCS.name} has no `<!-- org-defaults: {name} -->` block"
    return found.group(1)


def run(tool: str, *args: object, env: dict[str, str]) -> None:
    """Run a template engine's CLI from the template's venv; fail with its output."""
    command = [dev_tool(tool), *map(str, args)]
    result = capture(command, env=env)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The team's files as the docs make them, and an isolated environment's settings."""
    folder = tmp_path_factory.mktemp("org")
    (folder / "org-defaults.yml").write_text(docs_block("example"))
    for conversion in ("cookiecutter config", "copier settings"):
        subprocess.run(
            ["bash", "-c", docs_block(conversion)], cwd=folder, check=True, env=outside_make()
        )
    config = folder / "org-cookiecutter.yaml"
    with config.open("a") as extra:  # keeps replay files and clones out of the home folder
        extra.write(f"cookiecutters_dir: {folder / 'cookiecutters'}\n"
                    f"replay_dir: {folder / 'replay'}\n")
    (folder / "no-settings.yml").write_text("{}\n")  # the user's copier settings stay out
    return {"folder": folder, "answers": folder / "org-defaults.yml", "config": config}


@pytest.fixture(scope="module")
def env(org: dict[str, Path]) -> dict[str, str]:
    environment = {**outside_make(), **GIT_ENV, "COPIER_SETTINGS_PATH": str(
        org["folder"] / "no-settings.yml")}
    environment.pop("COOKIECUTTER_CONFIG", None)
    return environment


@pytest.fixture(scope="module")
def git_template(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """The session's template snapshot, committed: what cruft needs."""
    template = shutil.copytree(template_snapshot(), tmp_path_factory.mktemp("git") / "template")
    for command in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "t"]):
        subprocess.run(["git", *command], cwd=template, env=env, check=True)
    return template


def render_all(
    org: dict[str, Path], env: dict[str, str], git_template: Path, out: Path,
    overrides: dict[str, Any],
) -> dict[str, Path]:
    """One project per documented command, with `overrides` given as each engine takes them."""
    slug = overrides.get("project_name", "My ML Project").lower().replace(" ", "-")
    pairs = [f"{name}={value}" for name, value in overrides.items()]
    copier_data = [arg for pair in pairs for arg in ("-d", pair)]
    # One -d before --data-file and the rest after it: either way the -d answer wins.
    run("copier", "copy", "--quiet", *copier_data[:2], "--data-file", org["answers"],
        *copier_data[2:], "--defaults", template_snapshot(), out / "copier" / slug, env=env)
    run("cookiecutter", "--config-file", org["config"], "--no-input",
        "--output-dir", out / "cookiecutter", template_snapshot(), *pairs, env=env)
    run("cruft", "create", "--config-file", org["config"], "--no-input",
        "--extra-context", json.dumps(overrides), "--output-dir", out / "cruft",
        git_template, env=env)
    settings_env = {**env, "COPIER_SETTINGS_PATH": str(org["folder"] / "org-copier-settings.yml")}
    run("copier", "copy", "--quiet", *copier_data, "--defaults", template_snapshot(),
        out / "copier-settings" / slug, env=settings_env)
    return {engine: out / engine / slug
            for engine in ("copier", "cookiecutter", "cruft", "copier-settings")}


@pytest.fixture(scope="module")
def projects(
    org: dict[str, Path], env: dict[str, str], git_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    return render_all(org, env, git_template, tmp_path_factory.mktemp("plain"), {})


@pytest.fixture(scope="module")
def overridden(
    org: dict[str, Path], env: dict[str, str], git_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    return render_all(org, env, git_template, tmp_path_factory.mktemp("override"), OVERRIDES)


def differences(projects: dict[str, Path]) -> dict[str, list[str]]:
    """Each engine's differences from cookiecutter's tree; cruft's state file left out."""
    found = {engine: tree_differences(projects["cookiecutter"], project)
             for engine, project in projects.items() if engine != "cookiecutter"}
    found["cruft"].remove(CRUFT_FILE)
    return found


def recorded_answers(projects: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {
        "copier": yaml.safe_load((projects["copier"] / ANSWERS_FILE).read_text()),
        "cruft": json.loads((projects["cruft"] / CRUFT_FILE).read_text())["context"]
        ["cookiecutter"],
    }


def check_applied(project: Path, answers: dict[str, Any]) -> None:
    """The team's answers, `answers` over them, in the generated files."""
    expected = {**ORG_ANSWERS, **answers}
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["requires-python"] == f">={expected['python_version']}"
    assert metadata["license"] == expected["license"]
    assert metadata["authors"] == [{"name": expected["author_name"],
                                    "email": expected["author_email"]}]
    licence_title = {"Apache-2.0": "Apache License", "MIT": "MIT License"}[expected["license"]]
    assert (project / "LICENSE").read_text().lstrip().startswith(licence_title)
    files = project_files(project)
    assert not [name for name in files if name.startswith(("airflow/", ".github/"))]
    assert "Dockerfile" in files and "terraform/main.tf" in files  # the file says nothing of them


def test_docs_example_answers_questions_with_non_default_values(org: dict[str, Path]) -> None:
    example = yaml.safe_load(org["answers"].read_text())
    assert example == ORG_ANSWERS, "the docs' example file changed: update ORG_ANSWERS"
    questions = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    defaults = {name: value[0] if isinstance(value, list) else value
                for name, value in questions.items()}
    assert [name for name, value in example.items() if defaults[name] == value] == []


def test_converted_configs_carry_the_same_answers(org: dict[str, Path]) -> None:
    """The docs' one-line conversions: cookiecutter's `default_context`, copier's `defaults`."""
    answers = yaml.safe_load(org["answers"].read_text())
    cookiecutter_config = yaml.safe_load(org["config"].read_text())
    copier_settings = yaml.safe_load((org["folder"] / "org-copier-settings.yml").read_text())
    assert (cookiecutter_config["default_context"], copier_settings) == (
        answers, {"defaults": answers})


def test_every_engine_gives_the_same_project(projects: dict[str, Path]) -> None:
    assert differences(projects) == {"copier": [], "cruft": [], "copier-settings": []}


def test_org_answers_are_applied_and_recorded(projects: dict[str, Path]) -> None:
    check_applied(projects["copier"], {})
    for engine, recorded in recorded_answers(projects).items():
        assert {name: recorded[name] for name in ORG_ANSWERS} == ORG_ANSWERS, engine


def test_project_answers_win_over_the_org_defaults(overridden: dict[str, Path]) -> None:
    assert differences(overridden) == {"copier": [], "cruft": [], "copier-settings": []}
    assert overridden["copier"].name == "churn-model"
    check_applied(overridden["copier"], OVERRIDES)
    for engine, recorded in recorded_answers(overridden).items():
        assert {name: recorded[name] for name in OVERRIDES} == OVERRIDES, engine


@pytest.mark.parametrize("org_value", [3.12, "apache"], ids=["unquoted-version", "bad-choice"])
def test_cookiecutter_drops_an_org_default_that_is_no_choice(org_value: Any) -> None:
    """Why the docs ask for quoted versions and a try with copier: cookiecutter only warns
    about a `default_context` value that is none of the choices, and keeps the default."""
    name = "python_version" if isinstance(org_value, float) else "license"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        context = generate_context(
            str(template_snapshot() / "cookiecutter.json"), default_context={name: org_value}
        )["cookiecutter"]
    assert [str(warning.message) for warning in caught] == [
        f"Invalid default received: {org_value} provided for choice variable {name}, "
        f"but the choices are {context[name]}."
    ]
    assert context[name][0] == {"python_version": "3.11", "license": "MIT"}[name]


def test_copier_reads_an_unquoted_version_and_refuses_a_bad_choice(tmp_path: Path) -> None:
    """`--data-file` values reach copier as `data`, as here."""
    project = render("copier", tmp_path, python_version=3.12)
    assert 'requires-python = ">=3.12"' in (project / "pyproject.toml").read_text()
    with pytest.raises(ValueError, match=re.escape(
        "Invalid choice for 'license': 'apache' is not in "
        "['MIT', 'Apache-2.0', 'BSD-3-Clause', 'Proprietary']"
    )):
        render("copier", tmp_path / "refused", license="apache")
    assert not any((tmp_path / "refused").glob("*")), "copier left files behind"
