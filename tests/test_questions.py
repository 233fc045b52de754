"""Both engines ask the same questions, know the same variables and refuse the same answers."""

import json
import keyword
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import copier
import jinja2
import pytest
import yaml
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context
from packaging.requirements import Requirement

from bake import ENGINES, RenderRefused, render, template_snapshot

TREE = "{{cookiecutter.project_slug}}"
HOOK = "hooks/pre_gen_project.py"
KEYWORD, STDLIB, TEST_SUITE, DEPENDENCY = (
    "is a Python keyword",
    "is a Python standard-library module name",
    "is a test-suite name",
    "shadows a dependency of the generated project",
)
# `cookiecutter.x` or `cookiecutter['x']` in a path or file of the template tree.
VARIABLE = re.compile(r"""cookiecutter(?:\.(\w+)|\[["'](\w+)["']\])""")


def cookiecutter_json() -> dict[str, Any]:
    return json.loads((template_snapshot() / "cookiecutter.json").read_text())


def copier_yml() -> dict[str, Any]:
    return yaml.safe_load((template_snapshot() / "copier.yml").read_text())


def cookiecutter_questions() -> dict[str, Any]:
    """Keys with a leading underscore are private variables, never asked."""
    return {name: value for name, value in cookiecutter_json().items() if not name.startswith("_")}


def copier_questions() -> dict[str, dict[str, Any]]:
    """Keys with a leading underscore are settings; `when: false` questions are computed."""
    return {
        name: spec
        for name, spec in copier_yml().items()
        if not name.startswith("_") and spec.get("when", True) is not False
    }


def reserved_names() -> dict[str, list[str]]:
    """The list both engines check, read the way copier.yml imports it from the hook."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_snapshot()))
    return env.get_template(HOOK).module.reserved_names


def variables_used(root: Path) -> set[str]:
    """Every `cookiecutter.*` variable a folder's paths and text files refer to."""
    used = set()
    for path in [root, *root.rglob("*")]:
        texts = [path.name] + ([path.read_text(errors="ignore")] if path.is_file() else [])
        for text in texts:
            used |= {dotted or indexed for dotted, indexed in VARIABLE.findall(text)}
    return used


def test_same_questions_in_same_order() -> None:
    assert list(copier_questions()) == list(cookiecutter_questions())


def test_same_help_texts() -> None:
    prompts = cookiecutter_json()["__prompts__"]
    assert {name: spec.get("help") for name, spec in copier_questions().items()} == prompts


def test_same_choices_and_defaults() -> None:
    copier_specs = copier_questions()
    for name, value in cookiecutter_questions().items():
        spec = copier_specs[name]
        if isinstance(value, list):
            assert (spec.get("choices"), spec.get("default")) == (value, value[0]), name
        elif isinstance(value, bool):  # cookiecutter asks yes/no for a JSON boolean
            assert (spec.get("type"), spec.get("default")) == ("bool", value), name
        else:
            assert "choices" not in spec, name
            assert spec.get("default") == value.replace("cookiecutter.", ""), name


@pytest.fixture(scope="module")
def copier_mapping(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """copier's hidden `cookiecutter` mapping for the default answers, as copier computes it."""
    worker = copier.run_copy(
        str(template_snapshot()), tmp_path_factory.mktemp("pretend") / "project",
        defaults=True, pretend=True, quiet=True,
    )
    return dict(worker.answers.combined["cookiecutter"])


def test_copier_mapping_equals_cookiecutter_context(copier_mapping: dict[str, Any]) -> None:
    context = generate_context(context_file=template_snapshot() / "cookiecutter.json")
    expected = dict(prompt_for_config(context, no_input=True))
    mapping = dict(copier_mapping)
    # The answers file is copier's alone: cookiecutter renders its name empty and skips it.
    assert (mapping.pop("__answers"), expected.pop("__answers")) == (".copier-answers.yml", "")
    assert mapping == expected


def test_template_tree_uses_only_known_variables(copier_mapping: dict[str, Any]) -> None:
    used = variables_used(template_snapshot() / TREE)
    assert "project_slug" in used  # the tree's own folder name: proves the scan works
    assert used <= set(copier_mapping), "missing in copier.yml's cookiecutter mapping"
    assert used <= set(cookiecutter_json()), "missing in cookiecutter.json"
    assert variables_used(template_snapshot() / "hooks") <= set(cookiecutter_json())


def test_reserved_names_cover_this_python() -> None:
    reserved = reserved_names()
    public_stdlib = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public_stdlib - set(reserved[STDLIB]) == set()
    assert set(keyword.kwlist) - set(reserved[KEYWORD]) == set()
    assert {"test", "tests"} <= set(reserved[TEST_SUITE])


def test_reserved_name_groups_do_not_overlap() -> None:
    """Each refused name gets exactly one reason, the same in both engines."""
    names = [name for group in reserved_names().values() for name in group]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_reserved_names_cover_generated_dependencies(tmp_path: Path) -> None:
    """A package named like a dependency would shadow it on import."""
    pyproject = tomllib.loads((render("copier", tmp_path) / "pyproject.toml").read_text())
    project = pyproject["project"]
    requirements = [
        *project.get("dependencies", []),
        *(spec for group in project.get("optional-dependencies", {}).values() for spec in group),
        *(
            spec
            for group in pyproject.get("dependency-groups", {}).values()
            for spec in group
            if isinstance(spec, str)
        ),
    ]
    names = {re.sub(r"[-_.]+", "_", Requirement(spec).name).lower() for spec in requirements}
    assert names - set(reserved_names()[DEPENDENCY]) == set()


@pytest.mark.parametrize("hook", [HOOK, "hooks/post_gen_project.py"])
def test_rendered_hook_is_clean_python(hook: str) -> None:
    """Render the hook as cookiecutter does (hooks.run_script_with_context), then lint it."""
    context = generate_context(context_file=template_snapshot() / "cookiecutter.json")
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    text = (template_snapshot() / hook).read_text()
    source = create_env_with_context(context).from_string(text).render(**context)
    compile(source, hook, "exec")
    assert "sys.exit(main(" in source, "the rendered hook must act, not only define"
    lint = subprocess.run(
        [sys.executable, "-m", "flake8", "--max-line-length", "100", "-"],
        input=source, capture_output=True, text=True,
    )
    assert lint.returncode == 0, lint.stdout


SLUG_RULE = (
    "must be lowercase letters and digits separated by single hyphens or underscores,"
    " starting with a letter"
)
PACKAGE_RULE = "must be lowercase letters, digits and underscores, starting with a letter"
BAD_ANSWERS = [
    # With the derived slug, a blank name gives cookiecutter an empty folder name, which it
    # refuses before any hook runs ("directory already exists"): give the slug explicitly.
    pytest.param(
        {"project_name": "  ", "project_slug": "churn"}, "project_name: must not be empty",
        id="blank-name",
    ),
    pytest.param(
        {"project_slug": "Churn Model!"}, f"project_slug: 'Churn Model!' {SLUG_RULE}",
        id="slug-characters",
    ),
    pytest.param(
        {"project_slug": "churn--model"}, f"project_slug: 'churn--model' {SLUG_RULE}",
        id="slug-double-hyphen",
    ),
    pytest.param(
        {"project_slug": "2-churn"}, f"project_slug: '2-churn' {SLUG_RULE}", id="slug-digit-first"
    ),
    pytest.param(
        {"project_slug": "json"}, f"project_slug: 'json' {STDLIB}; choose another",
        id="slug-stdlib",
    ),
    pytest.param(
        {"project_slug": "scikit-learn"},
        f"project_slug: 'scikit-learn' (as 'scikit_learn') {DEPENDENCY}; choose another",
        id="slug-dependency",
    ),
    pytest.param(
        {"package_name": "lambda"}, f"package_name: 'lambda' {KEYWORD}; choose another",
        id="package-keyword",
    ),
    pytest.param(
        {"package_name": "logging"}, f"package_name: 'logging' {STDLIB}; choose another",
        id="package-stdlib",
    ),
    pytest.param(
        {"package_name": "tests"}, f"package_name: 'tests' {TEST_SUITE}; choose another",
        id="package-tests",
    ),
    *(
        pytest.param(
            {"package_name": name}, f"package_name: '{name}' {DEPENDENCY}; choose another",
            id=f"package-{name}",
        )
        for name in ("mlflow", "sklearn", "dvc")
    ),
    pytest.param(
        {"package_name": "churn-model"}, f"package_name: 'churn-model' {PACKAGE_RULE}",
        id="package-hyphen",
    ),
    pytest.param(
        {"package_name": "Churn"}, f"package_name: 'Churn' {PACKAGE_RULE}", id="package-upper"
    ),
    pytest.param(
        {"author_email": "not-an-email"},
        "author_email: 'not-an-email' does not look like an email address",
        id="email-no-at",
    ),
    pytest.param(
        {"author_email": "ann lee@example.com"},
        "author_email: 'ann lee@example.com' does not look like an email address",
        id="email-space",
    ),
    pytest.param(
        {"description": "First line\nsecond line"}, "description: must be a single line",
        id="description-two-lines",
    ),
    pytest.param(
        {"include_docker": False},
        "include_k8s: Kubernetes runs the service's container image, so it needs include_docker",
        id="k8s-without-docker",
    ),
    pytest.param(
        {"author_name": 'Ann "Models" Lee'},
        "author_name: must not contain double quotes or backslashes",
        id="author-quotes",
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused(
    engine: str, answers: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(RenderRefused) as refused:
        render(engine, tmp_path, **answers)
    assert message in str(refused.value)
    assert list(tmp_path.iterdir()) == [], "a refused answer left output behind"


GOOD_ANSWERS = [
    pytest.param({"package_name": "churn_model2"}, id="package-with-digit"),
    pytest.param({"project_slug": "churn_model_v2", "package_name": "x"}, id="underscore-slug"),
    pytest.param(
        {
            "author_name": "Zoë O'Brien",
            "author_email": "zoe.o-brien+ml@data.example.co.uk",
            "description": "Predicts customers' churn: ünïcode, colons & ampersands.",
        },
        id="unusual-text",
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("answers", GOOD_ANSWERS)
def test_unusual_good_answers_are_accepted(
    engine: str, answers: dict[str, str], tmp_path: Path
) -> None:
    project = render(engine, tmp_path, **answers)
    assert project.is_dir()
    assert project.name == answers.get("project_slug", "my-ml-project")
