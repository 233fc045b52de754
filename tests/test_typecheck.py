"""mypy in the generated project: declared where `make lint` and pre-commit run it, one run
over the package and the tests, clean on each problem type (the only answer that changes the
Python files mypy reads); a type error fails it anywhere, a missing annotation only in the
package.

The e2e checks run in the worker's shared virtualenv and mypy cache (conftest.py's
`shared_env`), with a default render's dependencies and dev tools installed but not the
render itself: every render finds its own package through `mypy_path = "src"`. So the
installed packages are checked once per worker, whichever project lints first. Other
answers (linter, components) leave `src/` and `tests/` byte for byte the same.
"""

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from bake import TOOLS, capture, render

PROBLEM_TYPES = ("classification", "regression")
# A finding mypy reports under any settings: an int function returning a float.
TYPE_ERROR = "def half(number: int) -> int:\n    return number / 2\n"
# A finding only where every function must be annotated: the package, not the tests.
UNANNOTATED = "def double(number):\n    return number * 2\n"


def test_mypy_is_declared_for_make_lint_and_pre_commit(tmp_path: Path) -> None:
    project = render("cookiecutter", tmp_path)
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = map(Requirement, meta["project"]["optional-dependencies"]["dev"])
    dev = {requirement.name.lower(): requirement for requirement in requirements}
    assert {"mypy", "pandas-stubs", "scipy-stubs", "types-pyyaml"} <= set(dev)
    assert all(str(dev[name].specifier).startswith(">=") for name in ("mypy", "pandas-stubs"))
    settings = meta["tool"]["mypy"]
    assert settings["strict"] is True and settings["plugins"] == ["pydantic.mypy"]
    assert settings["files"] == ["src", "tests"]
    # The tests may leave functions unannotated; the package may not.
    annotations = ("disallow_untyped_defs", "disallow_incomplete_defs")
    assert [settings[key] for key in annotations] == [False, False]
    package = next((project / "src").iterdir()).name
    (strict_package,) = [override for override in settings["overrides"]
                         if f"{package}.*" in override["module"]]
    assert package in strict_package["module"]
    assert [strict_package[key] for key in annotations] == [True, True]

    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert hooks["mypy"]["entry"].split()[-1] == "lint-types"
    assert hooks["mypy"]["language"] == "system" and hooks["mypy"]["pass_filenames"] is False


@pytest.fixture(scope="module")
def typecheck_env(
    shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The shared venv with a default render's dependencies and dev extra, not the render:
    the package installed there stays the one of whichever project installed it."""
    project = render("copier", tmp_path_factory.mktemp("typecheck"))
    python = str(Path(shared_env["VENV"]) / "bin" / "python")
    subprocess.run(
        [str(TOOLS / "uv"), "pip", "install", "--quiet", "--compile-bytecode", "--python", python,
         "-r", str(project / "pyproject.toml"), "--extra", "dev"],
        check=True,
    )
    return shared_env


def lint_types(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`make lint-types` with the shared venv and mypy cache: a render's modules are
    checked again where their source differs from what the cache holds, and a module with
    errors is never taken from the cache."""
    make = ["make", "--no-print-directory", "lint-types"]
    return capture([*make, f"VENV={env['VENV']}", f"MYPY_CACHE={env['MYPY_CACHE']}"], cwd=project)


@pytest.mark.e2e
@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_make_lint_types_passes(
    problem_type: str, typecheck_env: dict[str, str], tmp_path: Path
) -> None:
    project = render("cookiecutter", tmp_path, problem_type=problem_type)
    checked = lint_types(project, typecheck_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # One run, over every module of the package and the tests.
    modules = len([*project.glob("src/**/*.py"), *project.glob("tests/**/*.py")])
    assert checked.stdout.count("Success: no issues found") == 1, checked.stdout
    assert f"no issues found in {modules} source files" in checked.stdout, checked.stdout


@pytest.mark.e2e
def test_type_errors_fail_make_lint_types_and_only_the_package_needs_annotations(
    typecheck_env: dict[str, str], tmp_path: Path
) -> None:
    project = render("cookiecutter", tmp_path)
    package = next((project / "src").iterdir())
    (package / "halves.py").write_text(TYPE_ERROR)
    (package / "doubles.py").write_text(UNANNOTATED)
    (project / "tests" / "test_halves.py").write_text(TYPE_ERROR)
    (project / "tests" / "test_doubles.py").write_text(UNANNOTATED)
    checked = lint_types(project, typecheck_env)
    assert checked.returncode != 0
    errors = sorted(line for line in checked.stdout.splitlines() if ": error:" in line)
    located = [(line.split(":", 2)[0], line.rsplit("[", 1)[-1]) for line in errors]
    assert located == sorted([
        (f"src/{package.name}/doubles.py", "no-untyped-def]"),
        (f"src/{package.name}/halves.py", "return-value]"),
        ("tests/test_halves.py", "return-value]"),
    ]), checked.stdout
