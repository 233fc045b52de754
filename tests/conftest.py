"""Fixtures shared by the test modules: the Jinja compile cache for every test, and for the
end-to-end modules one generated, pipeline-run default project.

The project fixture is session-scoped so the slow part (install + pipeline) runs once
however many modules use it. The end-to-end tier runs on two xdist workers with
``--dist loadgroup`` (``pytest_collection_modifyitems`` below says which tests go together).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake import TOOLS, jinja_compiled_once, project_env, render

# The engine of the default e2e project: copier, the one `copier update` keeps projects on.
E2E_ENGINE = "copier"
QUICKSTART = re.compile(r"<!-- quickstart -->\s*```bash\n(.*?)```", re.DOTALL)


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a shell command as a user would type it; fail the test with its output."""
    result = subprocess.run(
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        pytest.fail(f"`{command}` exited {result.returncode} in {cwd}:\n{output}")
    return result


# The xdist group of the tests that use the default project: one worker builds it, once.
DEFAULT_PROJECT_GROUP = "default-project"
# The xdist group of the tests whose projects install into `pandas_below_3_env`.
PANDAS_BELOW_3_GROUP = "pandas-below-3"


def xdist_group(item: pytest.Item) -> str:
    """The worker group of a test under ``--dist loadgroup``: every test of the shared
    default project (this file's ``project`` fixture) in one, so it is built once; every
    test on ``pandas_below_3_env`` in another, so that venv is built once; any other test
    with the rest of its module and, where a module-scoped fixture is parametrized (a
    project per dataset or answer set), of that parameter: each project is then built
    once, and the projects of one module can build on both workers at once."""
    definitions = getattr(item, "_fixtureinfo").name2fixturedefs
    project = definitions.get("project", ())
    if project and project[-1].func.__module__ == __name__:
        return DEFAULT_PROJECT_GROUP
    if "pandas_below_3_env" in getattr(item, "fixturenames", ()):
        return PANDAS_BELOW_3_GROUP
    module = item.nodeid.split("::", 1)[0]
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec else {}
    built_per_parameter = [
        f"{name}={value}" for name, value in params.items()
        if name in definitions and definitions[name][-1].scope == "module"
    ]
    # Joined with spaces, not in brackets: xdist takes what follows a test id's last "@" as
    # its group only if no "]" comes after it.
    return " ".join([module, *built_per_parameter])


# tryfirst: xdist's own hook reads the xdist_group marks into the node ids it schedules by;
# marks added after it are ignored, and a module's tests would then be spread over workers.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(xdist_group(item)))


@pytest.fixture(scope="session", autouse=True)
def jinja_compile_cache() -> Iterator[None]:
    """Each test process compiles every template source once (``bake.jinja_compiled_once``:
    renders 2.5 to 4 times faster, byte for byte the same)."""
    with jinja_compiled_once():
        yield


def new_venv(venv: Path, *options: str) -> Path:
    """An empty virtualenv on this Python, made by the template venv's uv."""
    command = [str(TOOLS / "uv"), "venv", "--quiet", *options, "--python", sys.executable]
    subprocess.run([*command, str(venv)], check=True)
    return venv


@pytest.fixture(scope="session")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables for generated projects: one shared venv, no telemetry."""
    root = tmp_path_factory.mktemp("shared")
    # --seed: pip too, for projects whose dependency_manager is pip
    venv = new_venv(root / "venv", "--seed")
    env = {key: value for key, value in project_env(venv).items() if not key.startswith("GIT_")}
    env.update(
        # One mypy cache for every project this worker lints: the installed packages are
        # checked once, not per project. mypy reuses a cached module only if its source
        # hash is unchanged (whatever its path), and never caches one with errors, so a
        # project's own modules are checked wherever they differ from what the worker saw
        # before.
        MYPY_CACHE=str(root / "mypy"),
        PRE_COMMIT_HOME=str(root / "pre-commit"),
        GIT_AUTHOR_NAME="E2E Test",
        GIT_AUTHOR_EMAIL="e2e@example.com",
        GIT_COMMITTER_NAME="E2E Test",
        GIT_COMMITTER_EMAIL="e2e@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        # A generated `make test` runs its suite on xdist's workers, one per core: here the
        # tier's own workers already keep every core busy, and each extra worker would only
        # import the ML stack again. The default project's quickstart (`project`) runs it
        # as a user's does.
        PYTEST_XDIST_AUTO_NUM_WORKERS="0",
    )
    return env


@pytest.fixture(scope="session")
def pandas_below_3_env(
    shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The shared settings with a virtualenv of its own, for the projects whose components
    pin pandas below 3 (Feast, which also pins prometheus-client below 0.25, and
    Evidently). Installed into the shared venv, they would change the packages every other
    project runs with; installed into one venv each, they would install and compile the
    same pandas 2 stack twice. Their modules run one after the other on one worker
    (``PANDAS_BELOW_3_GROUP``), each module's tests done before the next project installs."""
    venv = new_venv(tmp_path_factory.mktemp("pandas-below-3") / "venv")
    own = project_env(venv)
    return {**shared_env, "VENV": own["VENV"], "PATH": own["PATH"]}


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, shared_env: dict[str, str]) -> Iterator[Path]:
    """The default project, after its README quickstart ran command by command.

    Rendered by one engine only: the fast tier proves both engines render byte-identical
    trees for every answer pair and component combination, so running the same files
    twice would test nothing more. The option matrix runs projects of both engines.
    """
    project_dir = render(E2E_ENGINE, tmp_path_factory.mktemp(E2E_ENGINE))
    as_a_user = {k: v for k, v in shared_env.items() if k != "PYTEST_XDIST_AUTO_NUM_WORKERS"}
    run_quickstart(project_dir, as_a_user)
    yield project_dir


def run_quickstart(project_dir: Path, env: dict[str, str]) -> None:
    """Run the generated README's quickstart block verbatim, command by command."""
    readme = (project_dir / "README.md").read_text()
    match = QUICKSTART.search(readme)
    assert match, "the generated README has no quickstart block"
    commands = [line for line in match.group(1).splitlines() if line.strip()]
    assert commands == ["git init", "make install", "make pipeline", "make test"]
    for command in commands:
        run(command, project_dir, env)
