"""Bake helpers shared by the template tests: render the working tree with either engine.

Tests, scripts and benchmarks import them with `from bake import render, ENGINES, TEMPLATE_DIR`.
"""

import atexit
import difflib
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import copier
import jinja2
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from packaging.version import InvalidVersion, Version

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent  # the template's venv: uv and the validators live here
ENGINES = ("cookiecutter", "copier")
ANSWERS_FILE = ".copier-answers.yml"
# Identity and an empty configuration, so git behaves the same on a bare CI machine.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
_MAKE_VARIABLES = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}
# Template syntax that survived rendering; GitHub Actions' own `${{ }}` is allowed.
_LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|\bcookiecutter\b")
# copier's wording when a `validator:` refuses an answer (copier/_user_data.py).
_COPIER_REFUSAL = "Validation error for question"


# How each `linter` answer's project lints itself, run from the project so the linter reads
# the project's own settings; one `path:line:col: CODE message` line per finding.
LINT_COMMANDS = {
    "flake8": [sys.executable, "-m", "flake8", "."],
    "ruff": [str(TOOLS / "ruff"), "check", "--no-cache", "--output-format", "concise", "."],
}
# Environment settings that change what Jinja compiles a template source into.
_JINJA_COMPILE_SETTINGS = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix",
    "line_comment_prefix", "trim_blocks", "lstrip_blocks", "newline_sequence",
    "keep_trailing_newline", "optimized", "is_async", "finalize", "autoescape",
)


def _callables(mapping: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Filters or tests by name, with what Jinja passes them (context, environment...)."""
    return tuple(sorted((name, getattr(function, "jinja_pass_arg", None))
                        for name, function in mapping.items()))


_compile_every_time = jinja2.Environment.compile
_COMPILED: dict[tuple[Any, ...], Any] = {}


@functools.wraps(_compile_every_time)
def _compile_once(self, source, name=None, filename=None, raw=False, defer_init=False):
    """Jinja's compile, once per test process, configuration and source.

    Both engines build a new Jinja environment for every render and compile every file,
    path and question again: about 70% of a render's time (0.63 s -> 0.15 s for
    cookiecutter, 1.07 s -> 0.43 s for copier), and the fast tier renders about 175
    projects. The key holds the environment's class, so the two engines never share a
    result, each setting that changes lexing, parsing or code generation, the extensions,
    filters and tests with how each is called, and the source with its name: a cached
    result is what compiling again would give (tests/test_render.py checks it). The same
    idea as Jinja's own bytecode cache, which keys on the source alone.
    """
    if not isinstance(source, str):  # an already parsed template
        return _compile_every_time(self, source, name, filename, raw, defer_init)
    key = (
        type(self), *(getattr(self, setting) for setting in _JINJA_COMPILE_SETTINGS),
        tuple(sorted(self.extensions)), _callables(self.filters), _callables(self.tests),
        source, name, filename, raw, defer_init,
    )
    if key not in _COMPILED:
        _COMPILED[key] = _compile_every_time(self, source, name, filename, raw, defer_init)
    return _COMPILED[key]


@contextmanager
def _jinja_compiling_with(compile_function: Any) -> Iterator[None]:
    previous = jinja2.Environment.compile
    jinja2.Environment.compile = compile_function
    try:
        yield
    finally:
        jinja2.Environment.compile = previous


def jinja_compiled_once() -> AbstractContextManager[None]:
    """Jinja's compile step cached for the block's duration: the tests' session fixture
    (tests/conftest.py) runs every test inside it. Importing bake changes nothing."""
    return _jinja_compiling_with(_compile_once)


def jinja_compiling_every_time() -> AbstractContextManager[None]:
    """Jinja as the engines use it outside the tests, for the block's duration."""
    return _jinja_compiling_with(_compile_every_time)


class RenderRefused(Exception):
    """The engine refused the answers; the message is what the user was told."""


def copy_template(dest: Path) -> Path:
    """Copy the template as git would commit it now: tracked and untracked, minus ignored.

    copier renders a git template from its last tag or HEAD, so tests that must see
    uncommitted work render from such a copy instead of from the repository itself.
    """
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=TEMPLATE_DIR, check=True, capture_output=True, text=True,
    ).stdout
    for relpath in filter(None, listing.split("\0")):
        source = TEMPLATE_DIR / relpath
        if source.exists():  # tracked files deleted in the working tree are listed too
            target = dest / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return dest


@functools.cache
def _session_dir() -> Path:
    """One scratch folder per test session, removed when the interpreter exits."""
    path = Path(tempfile.mkdtemp(prefix="mlops-template-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def template_snapshot() -> Path:
    """The working tree, copied once per session: every render sees the same template."""
    return copy_template(_session_dir() / "template")


@functools.cache
def _cookiecutter_config() -> Path:
    """A config file that keeps replay files and clones out of the user's home folder."""
    config = _session_dir() / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {_session_dir() / 'cookiecutters'}\n"
        f"replay_dir: {_session_dir() / 'replay'}\n"
    )
    return config


@contextmanager
def _stderr_fd_captured() -> Iterator[IO[str]]:
    """Send file descriptor 2 to a temporary file for the duration of the block.

    cookiecutter runs hooks as subprocesses that write to the inherited descriptor, and
    reports a failed hook only as an exit status, so this is how the message is read.
    """
    with tempfile.TemporaryFile(mode="w+") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield sink
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _render_cookiecutter(template: Path, dest_parent: Path, answers: dict[str, Any]) -> Path:
    with _stderr_fd_captured() as stderr:
        try:
            project = cookiecutter(
                str(template),
                no_input=True,
                extra_context=answers,
                output_dir=str(dest_parent),
                config_file=str(_cookiecutter_config()),
            )
        except FailedHookException as error:
            stderr.seek(0)
            raise RenderRefused(stderr.read().strip()) from error
    return Path(project)


def _render_copier(template: Path, dest_parent: Path, answers: dict[str, Any]) -> Path:
    """Render into a fresh staging folder, then name it by the slug as cookiecutter does.

    The staging folder does not exist beforehand, so copier removes it itself on failure.
    """
    staging = dest_parent / f".copier-{uuid.uuid4().hex}"
    try:
        worker = copier.run_copy(
            str(template), staging, data=answers, defaults=True, quiet=True, unsafe=False
        )
    except ValueError as error:
        if str(error).startswith(_COPIER_REFUSAL):
            raise RenderRefused(str(error)) from error
        raise
    return staging.rename(dest_parent / worker.answers.combined["project_slug"])


def render(engine: str, dest_parent: Path, **answers: Any) -> Path:
    """Render the template's working tree with `engine`, defaults overridden by `answers`.

    Returns the generated project directory, `dest_parent / <project_slug>`, for both
    engines. Raises `RenderRefused` with the validation message when answers are refused;
    nothing is left in `dest_parent` then.
    """
    renderers = {"cookiecutter": _render_cookiecutter, "copier": _render_copier}
    return renderers[engine](template_snapshot(), Path(dest_parent), answers)


def project_files(project: Path) -> dict[str, Path]:
    """Every file of a generated project by its POSIX path relative to the project."""
    return {path.relative_to(project).as_posix(): path for path in project.rglob("*")
            if path.is_file()}


def project_texts(project: Path) -> dict[str, str]:
    """Every UTF-8 file of the project; other files (images, models) carry no template code."""
    found = {}
    for name, path in project_files(project).items():
        try:
            found[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return found


def tree_differences(by_cookiecutter: Path, by_copier: Path) -> list[str]:
    """Paths whose presence, bytes or mode differ between the engines' outputs.

    copier's answers file is the one expected difference and is left out.
    """
    ours, theirs = project_files(by_cookiecutter), project_files(by_copier)
    theirs.pop(ANSWERS_FILE, None)
    differing = sorted(set(ours) ^ set(theirs))
    differing += [
        name for name in sorted(set(ours) & set(theirs))
        if ours[name].read_bytes() != theirs[name].read_bytes()
        or stat.S_IMODE(ours[name].stat().st_mode) != stat.S_IMODE(theirs[name].stat().st_mode)
    ]
    return differing


def mentions(project: Path, pattern: str | re.Pattern[str]) -> list[str]:
    """`path:line: text` of every line (and `path <name>` of every path) matching `pattern`.

    A string pattern matches in any case.
    """
    found = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    hits = [
        f"{name}:{number}: {line.strip()}"
        for name, text in project_texts(project).items()
        for number, line in enumerate(text.splitlines(), start=1)
        if found.search(line)
    ]
    return hits + [f"path {name}" for name in project_files(project) if found.search(name)]


def template_leftovers(project: Path) -> list[str]:
    """Lines and paths where template syntax survived rendering."""
    return mentions(project, _LEFTOVER)


def unparsable_files(project: Path) -> list[str]:
    """JSON, TOML and YAML files that do not parse, each with the parser's complaint."""
    parsers: dict[str, Callable[[str], object]] = {
        ".json": json.loads,
        ".toml": tomllib.loads,
        ".yaml": lambda text: list(yaml.safe_load_all(text)),
        ".yml": lambda text: list(yaml.safe_load_all(text)),
    }
    problems = []
    for name, text in project_texts(project).items():
        if (parse := parsers.get(Path(name).suffix)) is not None:
            try:
                parse(text)
            except Exception as error:  # the parsers share no base exception class
                problems.append(f"{name}: {error}")
    return problems


def project_env(venv: Path) -> dict[str, str]:
    """Environment for running a generated project: its venv first, then the template's
    tools (uv); telemetry off; no user tracking server or active virtualenv leaking in."""
    tools = Path(sys.executable).parent
    env = {
        key: value
        for key, value in outside_make().items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHON", "MLFLOW_TRACKING"))
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{tools}{os.pathsep}{env.get('PATH', '')}",
        VENV=str(venv),
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        DO_NOT_TRACK="true",
        DVC_NO_ANALYTICS="1",
        ORT_DISABLE_TELEMETRY="1",
    )
    return env


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a server started with ``start_new_session=True``, workers included."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def outside_make() -> dict[str, str]:
    """This process's environment minus what an enclosing `make test` exports.

    A `make` started with MAKELEVEL set prints "Entering directory" lines, and MAKEFLAGS
    would pass the outer make's options on: commands under test must see neither.
    """
    return {key: value for key, value in os.environ.items() if key not in _MAKE_VARIABLES}


def capture(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a validator, keeping its output for the assertion that checks its exit code."""
    kwargs.setdefault("env", outside_make())
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def dev_tool(name: str) -> str:
    """A command that `make venv` installs into the template's venv (a dev dependency)."""
    path = TOOLS / name
    assert path.is_file(), f"{name} is missing: `make venv` installs the dev dependencies"
    return str(path)


# ---------------------------------------------------------------------------------------
# Template history: the archived releases and the working tree in one git repository.
# Each release is kept as a git bundle (`vX.Y.Z.bundle`, PEP 440, the tag and its history),
# so tests of updates need neither the tags nor the history of the clone they run in.

RELEASES_DIR = Path(__file__).parent / "releases"
# What both engines render a project from: a release differs from HEAD only through these.
RENDERED_FROM = ("cookiecutter.json", "copier.yml", "hooks", "{{cookiecutter.project_slug}}")


class ReleaseArchiveError(AssertionError):
    """`tests/releases/` or the working tree does not give an update to test."""


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with the tests' identity and no user configuration; its stdout."""
    return subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
        capture_output=True, text=True,
    ).stdout.strip()


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)


def release_bundles(folder: Path = RELEASES_DIR) -> dict[str, Path]:
    """Each archived release's tag and bundle, oldest first (a bundle may build on older ones)."""
    bundles = {}
    for bundle in folder.glob("v*.bundle"):
        try:
            version = Version(bundle.stem)
        except InvalidVersion:
            raise ReleaseArchiveError(
                f"{bundle.name}: a release bundle is named after its PEP 440 tag") from None
        if version.is_prerelease:
            raise ReleaseArchiveError(
                f"{bundle.name}: only releases are archived, not pre-releases")
        bundles[version] = bundle
    if not bundles:
        raise ReleaseArchiveError(
            f"no release bundle vX.Y.Z.bundle in {folder}: see docs/development.md")
    return {bundles[version].stem: bundles[version] for version in sorted(bundles)}


def fetch_releases(repo: Path) -> list[str]:
    """Fetch every archived release's tag into `repo`; returns the tags, oldest first."""
    for tag, bundle in release_bundles().items():
        git(repo, "fetch", "--quiet", "--no-tags", str(bundle), f"refs/tags/{tag}:refs/tags/{tag}")
    return list(release_bundles())


def previous_release(repo: Path, releases: list[str]) -> str:
    """The newest release in `repo` whose template differs from HEAD's."""
    for tag in reversed(releases):
        if git(repo, "diff", "--name-only", tag, "HEAD", "--", *RENDERED_FROM):
            return tag
    raise ReleaseArchiveError(f"the template is the same as in every release in {RELEASES_DIR}")


def next_minor(tag: str) -> str:
    """The tag of the minor release after `tag`: v0.1.0 -> v0.2.0."""
    version = Version(tag)
    return f"v{version.major}.{version.minor + 1}.0"


@dataclass(frozen=True)
class UpgradeTemplate:
    path: Path  # a git repository: every release and, on top, the working tree as HEAD
    release: str  # the release the projects are upgraded from
    head: str  # the working tree's commit


def upgrade_template(path: Path) -> UpgradeTemplate:
    """A new git repository at `path`: every archived release and, on top of the newest,
    one commit with the working tree as git would commit it (uncommitted work included)."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet")
    releases = fetch_releases(path)
    git(path, "checkout", "--quiet", "-B", "main", releases[-1])
    git(path, "rm", "-r", "--quiet", ".")  # so files deleted since the release stay deleted
    copy_template(path)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--allow-empty", "--message", "The working tree")
    return UpgradeTemplate(path, previous_release(path, releases), git(path, "rev-parse", "HEAD"))


def copier_copy(template: UpgradeTemplate, dest: Path, ref: str, **answers: object) -> Path:
    """`copier copy` of `template` at `ref` (a tag, or HEAD for the working tree)."""
    copier.run_copy(
        str(template.path), dest, data=answers, vcs_ref=ref, defaults=True, quiet=True,
        unsafe=False,
    )
    return dest


def cruft(*args: str, cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """The cruft CLI, with a cookiecutter config that keeps the home folder untouched."""
    env = {**os.environ, "COOKIECUTTER_CONFIG": str(config)}
    return capture([dev_tool("cruft"), *args], cwd=cwd, env=env)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` but git's own, by POSIX path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def conflict_markers(root: Path) -> list[str]:
    """`path:line` of every line that git or copier would write as a conflict marker."""
    found = []
    for name, data in tree(root).items():
        for number, line in enumerate(data.splitlines(), start=1):
            if line.startswith((b"<<<<<<< ", b">>>>>>> ")) or line.rstrip() == b"=======":
                found.append(f"{name}:{number}")
    return found


def rewritten_line(release_render: Path, head_render: Path) -> tuple[str, int]:
    """A file in both renders and a line of its release version the template rewrote.

    The line must be gone from the new version entirely, so no diff algorithm can take
    it for an unchanged line: an edit of it overlaps the template's change.
    """
    old, new = tree(release_render), tree(head_render)
    candidates = sorted(
        (name for name in set(old) & set(new) if name != ANSWERS_FILE and old[name] != new[name]),
        key=lambda name: (name != "config/model_config.yaml", name),  # a config a team tunes
    )
    for name in candidates:
        try:
            before, after = old[name].decode().splitlines(), new[name].decode().splitlines()
        except UnicodeDecodeError:
            continue
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        for tag, start, end, _, _ in matcher.get_opcodes():
            for index in range(start, end) if tag in ("replace", "delete") else ():
                if before[index].strip() and before[index] not in after:
                    return name, index
    raise ReleaseArchiveError(
        "the template rewrote no line since the previous release: nothing can overlap")


def _hook_module(dest: Path, name: str) -> ModuleType:
    """hooks/<name>.py as a module: rendered into ``dest`` without a `cookiecutter`
    variable, so importing it defines its functions and constants and runs nothing."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_snapshot()))
    source = dest / f"{name}.py"
    source.write_text(env.get_template(f"hooks/{name}.py").render())
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def post_gen_hook(dest: Path) -> ModuleType:
    return _hook_module(dest, "post_gen_project")


def pre_gen_hook(dest: Path) -> ModuleType:
    return _hook_module(dest, "pre_gen_project")


@functools.cache
def combination_rules() -> dict[str, tuple[str, str]]:
    """The answers that need another one: question -> (the question it needs, why). Read
    from the `needs` of hooks/pre_gen_project.py the way copier.yml's validators read it,
    as a Jinja import."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR))
    needs = env.get_template("hooks/pre_gen_project.py").module.needs  # type: ignore[attr-defined]
    return {question: (needed, why) for question, (needed, why) in needs.items()}
