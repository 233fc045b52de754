"""The `linter` and `dependency_manager` answers change what they say, everywhere in the
generated project, and nothing else.

Fast tier: every pair of answers renders the same tree with both engines; the chosen linter
passes over the project with the project's own configuration and is the only one named
anywhere; ruff, configured from flake8's settings, reports what flake8 reports; a pip project
never names uv, and a uv project names pip only where it bootstraps uv. End-to-end tier:
each linter's pre-commit hook installs from PyPI and catches a real finding, and
`make install` works on a machine without uv for both dependency managers.
"""

import configparser
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml
from packaging.requirements import Requirement

from bake import (
    ENGINES, GIT_ENV, LINT_COMMANDS, capture, dev_tool, mentions, outside_make, render,
    template_snapshot, tree_differences,
)

LINTERS = ("flake8", "ruff")
MANAGERS = ("uv", "pip")
COMBOS = {
    f"{linter}-{manager}": {"linter": linter, "dependency_manager": manager}
    for linter in LINTERS for manager in MANAGERS
}
FINDING = re.compile(r"^\.?/?(?P<path>[^:\s]+):(?P<line>\d+):\d+: (?P<code>[A-Z]+\d+)", re.M)
# Lint findings in one file: an unused import (F401), trailing whitespace (W291), a line over
# 100 characters (E501), a comparison to None with == (E711) and an undefined name (F821).
BAD_CODE = (
    "import os\n"
    "value = 1 \n"
    f"text = '{'x' * 100}'\n"
    "if value == None:\n"
    "    print(undefined)\n"
)
HOOK = "hooks/pre_gen_project.py"
DEPENDENCY = "shadows a dependency of the generated project"


@pytest.fixture(scope="module", params=list(COMBOS))
def combo(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def projects(combo: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The combination rendered by each engine."""
    return {
        engine: render(engine, tmp_path_factory.mktemp(f"{engine}-{combo}"), **COMBOS[combo])
        for engine in ENGINES
    }


def files_mentioning(project: Path, pattern: str) -> set[str]:
    return {hit.split(":")[0].removeprefix("path ") for hit in mentions(project, pattern)}


def findings(command: list[str], project: Path) -> set[tuple[str, int, str]]:
    """(path, line, code) of each finding a linter reports, run from the project."""
    lint = capture(command, cwd=project)
    found = {
        (match["path"], int(match["line"]), match["code"])
        for match in FINDING.finditer(lint.stdout)
    }
    assert (lint.returncode == 0) == (not found), lint.stdout + lint.stderr
    return found


def dev_requirements(project: Path) -> dict[str, Requirement]:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = [Requirement(spec) for spec in meta["project"]["optional-dependencies"]["dev"]]
    return {requirement.name: requirement for requirement in requirements}


# ---------------------------------------------------------------------------------------
# Fast tier


def test_questions_offer_these_choices() -> None:
    questions = json.loads((template_snapshot() / "cookiecutter.json").read_text())
    assert (questions["linter"], questions["dependency_manager"]) == (
        list(LINTERS), list(MANAGERS)
    )


def test_engines_render_identical_trees(projects: dict[str, Path]) -> None:
    assert tree_differences(projects["cookiecutter"], projects["copier"]) == []


def test_chosen_linter_passes(projects: dict[str, Path], combo: str) -> None:
    linter = COMBOS[combo]["linter"]
    assert findings(LINT_COMMANDS[linter], projects["cookiecutter"]) == set()


def test_only_the_chosen_linter_is_set_up(projects: dict[str, Path], combo: str) -> None:
    """Config file or table, dev dependency, pre-commit hook and `make lint`: one linter."""
    linter = COMBOS[combo]["linter"]
    other = next(name for name in LINTERS if name != linter)
    project = projects["cookiecutter"]
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert (project / ".flake8").is_file() is (linter == "flake8")
    assert ("ruff" in meta.get("tool", {})) is (linter == "ruff")
    assert linter in dev_requirements(project) and other not in dev_requirements(project)

    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert linter in hooks and other not in hooks
    (pin,) = hooks[linter]["additional_dependencies"]
    name, _, version = pin.partition("==")
    assert name == linter and re.fullmatch(r"\d+\.\d+\.\d+", version), pin
    # The hook's pinned release satisfies the dev dependency `make lint` runs.
    assert dev_requirements(project)[linter].specifier.contains(version), pin

    planned = capture(["make", "-n", "lint"], cwd=project)
    assert planned.returncode == 0, planned.stderr
    bin_dir = f"{project.resolve()}/.venv/bin"
    expected = {"flake8": "flake8 src tests", "ruff": "ruff check src tests"}[linter]
    # `make lint` is the linter (`lint-style`), then mypy (`lint-types`, test_typecheck.py).
    assert planned.stdout.splitlines() == [
        f"{bin_dir}/{expected}",
        f"MYPY_CACHE_DIR=.mypy_cache {bin_dir}/mypy",
    ]


def test_make_lint_style_runs_and_passes(
    projects: dict[str, Path], combo: str, tmp_path: Path
) -> None:
    """The real `make lint-style` (the linter half of `make lint`), with a virtualenv holding
    just the chosen linter."""
    linter = COMBOS[combo]["linter"]
    project = shutil.copytree(projects["cookiecutter"], tmp_path / "project")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / linter).symlink_to(dev_tool(linter))
    lint = capture(["make", "lint-style", f"VENV={tmp_path / 'venv'}"], cwd=project)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    (project / "src" / "bad.py").write_text(BAD_CODE)
    lint = capture(["make", "lint-style", f"VENV={tmp_path / 'venv'}"], cwd=project)
    assert lint.returncode != 0 and "F401" in lint.stdout, lint.stdout + lint.stderr


def test_pre_commit_config_is_valid(projects: dict[str, Path]) -> None:
    checked = capture(
        [dev_tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        cwd=projects["cookiecutter"],
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_other_linter_is_never_named(projects: dict[str, Path], combo: str) -> None:
    linter = COMBOS[combo]["linter"]
    other = next(name for name in LINTERS if name != linter)
    project = projects["copier"]  # copier's answers file is scanned too
    assert mentions(project, rf"\b{other}\b") == []
    assert {"Makefile", "pyproject.toml", ".pre-commit-config.yaml", "README.md"} <= (
        files_mentioning(project, rf"\b{linter}\b")
    )


def test_only_the_chosen_dependency_manager_is_named(
    projects: dict[str, Path], combo: str
) -> None:
    """A pip project never names uv (a word match: `uvicorn`, a dependency, is not uv).

    A uv project names pip only in uv's own `uv pip` commands and where `make install` puts
    uv into a fresh virtualenv: that recipe and its comment, and the README's Quickstart.
    """
    project = projects["copier"]
    if COMBOS[combo]["dependency_manager"] == "pip":
        assert mentions(project, r"\buv\b") == []
        assert {"Makefile", "README.md", "Dockerfile"} <= files_mentioning(project, r"\bpip\b")
        return
    assert {"Makefile", "README.md", "Dockerfile", ".github/workflows/ci.yml"} <= (
        files_mentioning(project, r"\buv\b")
    )
    readme = (project / "README.md").read_text().splitlines()
    quickstart_start = readme.index("## Quickstart") + 1
    quickstart_end = next(
        number for number, line in enumerate(readme, start=1)
        if number > quickstart_start and line.startswith("## ")
    )
    unexpected = []
    for hit in mentions(project, r"\bpip\b"):
        name, number, text = hit.split(":", 2)
        if re.search(r"(\buv|\$\(UV\)) pip\b", text):
            continue  # uv's pip interface
        if name == "Makefile" and re.search(r"\buv\b", text):
            continue  # the bootstrap
        if name == "README.md" and quickstart_start < int(number) < quickstart_end:
            continue
        unexpected.append(hit)
    assert unexpected == []
    bootstrap = (project / "Makefile").read_text()
    assert re.search(r"^\t.*-m pip install .*\buv$", bootstrap, re.MULTILINE)


def test_ruff_reports_what_flake8_reports(tmp_path: Path) -> None:
    """Same line length, rules and excluded folders: switching linters keeps the verdicts."""
    projects = {
        linter: render("copier", tmp_path / linter, linter=linter) for linter in LINTERS
    }
    flake8 = configparser.ConfigParser()
    flake8.read(projects["flake8"] / ".flake8")
    ruff = tomllib.loads((projects["ruff"] / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["line-length"] == flake8.getint("flake8", "max-line-length")
    assert ruff["lint"]["select"] == ["E", "F", "W"]
    assert ruff["target-version"] == "py311"

    # A bad module in the code, and one in each folder flake8 leaves out.
    excluded = flake8.get("flake8", "extend-exclude").split(",")
    assert {".venv", "build", "dist", "mlruns", "data"} <= set(excluded)
    for project in projects.values():
        for folder in ["src", *excluded]:
            (project / folder).mkdir(exist_ok=True)
            (project / folder / "bad_module.py").write_text(BAD_CODE)
    reported = {
        linter: findings(LINT_COMMANDS[linter], projects[linter]) for linter in LINTERS
    }
    expected = {("src/bad_module.py", line, code) for line, code in
                [(1, "F401"), (2, "W291"), (3, "E501"), (4, "E711"), (5, "F821")]}
    assert reported["flake8"] == expected
    assert reported["ruff"] == expected


@pytest.mark.parametrize("python_version", ["3.12", "3.13"])
def test_ruff_targets_the_lowest_python(tmp_path: Path, python_version: str) -> None:
    project = render("cookiecutter", tmp_path, linter="ruff", python_version=python_version)
    ruff = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py" + python_version.replace(".", "")


def test_reserved_names_cover_tooling_dependencies(tmp_path: Path) -> None:
    """A project named like ruff or uv (which `make install` may put into the virtualenv)
    would shadow it, whichever answers generated the project."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_snapshot()))
    reserved = set(env.get_template(HOOK).module.reserved_names[DEPENDENCY])
    project = render("copier", tmp_path, linter="ruff")
    names = {re.sub(r"[-_.]+", "_", name).lower() for name in dev_requirements(project)}
    assert names | {"uv"} <= reserved


# ---------------------------------------------------------------------------------------
# End-to-end tier: PyPI is the only network these need


def git_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in outside_make().items() if not key.startswith("GIT_")}
    return {**env, **GIT_ENV, "PRE_COMMIT_HOME": str(home / "pre-commit")}


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit cache for the module: each hook environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.mark.e2e
@pytest.mark.parametrize("linter", LINTERS)
def test_pre_commit_linter_hook_installs_and_catches_findings(
    tmp_path: Path, pre_commit_home: Path, linter: str
) -> None:
    project = render("copier", tmp_path, linter=linter)
    env = git_env(pre_commit_home)
    pre_commit = dev_tool("pre-commit")
    for command in (["git", "init", "--quiet"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=project, env=env, check=True)
    clean = capture([pre_commit, "run", linter, "--all-files"], cwd=project, env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    package = next((project / "src").iterdir())
    (package / "bad_module.py").write_text(BAD_CODE)
    subprocess.run(["git", "add", "-A"], cwd=project, env=env, check=True)
    dirty = capture([pre_commit, "run", linter, "--all-files"], cwd=project, env=env)
    assert dirty.returncode != 0 and "F401" in dirty.stdout, dirty.stdout + dirty.stderr


def path_without_uv() -> str:
    return os.pathsep.join(
        folder for folder in os.environ["PATH"].split(os.pathsep)
        if folder and not (Path(folder) / "uv").exists()
    )


@pytest.mark.e2e
def test_make_install_bootstraps_uv_without_uv_on_path(tmp_path: Path) -> None:
    """A uv project on a machine without uv: venv, then uv from PyPI into it, then uv.

    (A pip project runs venv and pip only, as the dry runs in test_render.py show; a real
    pip install of the full stack costs ~160 s here, too slow for this tier.)
    """
    project = render("copier", tmp_path, dependency_manager="uv")
    env = {
        key: value for key, value in outside_make().items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHON")) and key != "UV"
    }
    env["PATH"] = path_without_uv()
    assert shutil.which("uv", path=env["PATH"]) is None
    install = capture(["make", "install"], cwd=project, env=env)
    assert install.returncode == 0, (install.stdout + install.stderr)[-6000:]

    venv = project / ".venv" / "bin"
    assert (venv / "uv").is_file()
    package = next((project / "src").iterdir()).name
    imported = capture([str(venv / "python"), "-c", f"import {package}.cli"], cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert (venv / "flake8").is_file() and (venv / "pytest").is_file()

    again = capture(["make", "install"], cwd=project, env=env)  # uses the bootstrapped uv
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{venv.resolve()}/uv pip install" in again.stdout
