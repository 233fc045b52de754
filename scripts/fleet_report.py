"""Fleet report: each generated project's template version, whether an update exists, components.

    .venv/bin/python scripts/fleet_report.py PATH [PATH ...] [--template SRC] [--json]

Each PATH is a project generated from this template (a folder or a clone). The template
version comes from `.copier-answers.yml` (copier: `_commit`, `_src_path`) or `.cruft.json`
(cruft: `commit`, `template`); a project with neither was made with plain cookiecutter and
is reported as not linked to the template. An update exists when the template's newest PEP
440 release tag (pre-releases skipped, as copier does) is newer than the newest release at
or before the project's version. The tags are read with `git ls-remote --tags` from the
recorded template source, or from `--template SRC` for every project; the template's
history is read only for a project whose commit carries no release tag (from the source
itself when it is a local repository, else from a blob-less bare clone, deleted on exit).

Exit status: 0 when every project is current; 1 when any is behind, not linked or could
not be checked; 2 on a usage error (one line per bad path).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

COPIER_ANSWERS = ".copier-answers.yml"
CRUFT_STATE = ".cruft.json"
# Files every project of this template has, at every release: what tells a project made with
# plain cookiecutter from an unrelated folder.
PROJECT_MARKERS = ("pyproject.toml", "dvc.yaml", "config/model_config.yaml")
COMPONENTS = (
    "include_docker", "include_k8s", "include_terraform", "include_airflow", "ci",
    "problem_type", "model",
)
# Table columns: (heading, key in a row of `report_rows`).
COLUMNS = (
    ("REPO", "path"), ("TOOL", "tool"), ("VERSION", "version"), ("LATEST", "latest"),
    ("DOCKER", "include_docker"), ("K8S", "include_k8s"), ("TERRAFORM", "include_terraform"),
    ("AIRFLOW", "include_airflow"), ("CI", "ci"), ("PROBLEM", "problem_type"),
    ("MODEL", "model"), ("STATUS", "status"),
)
# Source abbreviations that copier and cookiecutter expand.
ABBREVIATIONS = {
    "gh:": "https://github.com/", "gl:": "https://gitlab.com/", "bb:": "https://bitbucket.org/",
}
# What copier records as `_commit` for a commit after a tag: `git describe --tags` output.
DESCRIBE = re.compile(r"(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]{4,40})")
SHA = re.compile(r"[0-9a-f]{7,40}")
GIT_TIMEOUT = 120  # seconds, for one git command against a template


class UsageError(Exception):
    """A path that cannot be reported on; the message names it."""


class GitError(Exception):
    """A git command failed; the message is git's own (see `git_message`)."""


class Unknown(Exception):
    """Whether the project is behind cannot be told; the message says why."""


@dataclass(frozen=True)
class Project:
    """What a generated project records about the template it came from."""

    path: str  # as given on the command line
    tool: str  # copier, cruft or cookiecutter
    source: str | None  # the template's path or URL, as recorded
    commit: str | None  # copier's `_commit` or cruft's `commit`
    answers: dict[str, Any]


def read_mapping(path: Path, load: Any) -> dict[str, Any]:
    """A YAML or JSON file holding a mapping; UsageError naming the file otherwise."""
    try:
        data = load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"{path}: cannot be read: {reason}") from error
    if not isinstance(data, dict):
        raise UsageError(f"{path}: does not hold a mapping of answers")
    return data


def text(value: Any) -> str | None:
    """A recorded source or version as text (YAML may read `_commit: 1.0` as a number)."""
    return None if value is None else str(value)


def read_project(path: str) -> Project:
    """The project at `path` and its template record; UsageError for anything else."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{path}: not a directory")
    if (root / COPIER_ANSWERS).is_file():
        answers = read_mapping(root / COPIER_ANSWERS, yaml.safe_load)
        return Project(path, "copier", text(answers.get("_src_path")),
                       text(answers.get("_commit")), answers)
    if (root / CRUFT_STATE).is_file():
        state = read_mapping(root / CRUFT_STATE, json.loads)
        context = state.get("context")
        recorded = context.get("cookiecutter") if isinstance(context, dict) else None
        answers = recorded if isinstance(recorded, dict) else {}
        return Project(path, "cruft", text(state.get("template")), text(state.get("commit")),
                       answers)
    if all((root / marker).is_file() for marker in PROJECT_MARKERS):
        return Project(path, "cookiecutter", None, None, {})
    raise UsageError(
        f"{path}: not a generated project (no {COPIER_ANSWERS}, no {CRUFT_STATE}, and not "
        f"the files of a cookiecutter project: {', '.join(PROJECT_MARKERS)})"
    )


def expand_source(source: str) -> str:
    """A template source as git can read it: abbreviations and `git+` prefixes expanded."""
    for prefix, base in ABBREVIATIONS.items():
        if source.startswith(prefix):
            return base + source[len(prefix):]
    return source.removeprefix("git+")


def git_message(stderr: str, fallback: str) -> str:
    """git's first `fatal:` or `error:` line without that prefix (the cause; the lines
    after it are advice), else its last non-empty stderr line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if (match := re.match(r"(fatal|error): (.+)", line)) is not None:
            return match[2]
    return lines[-1] if lines else fallback


def git(*args: str, cwd: str | None = None) -> str:
    """Run git without prompting for credentials; its stdout, or GitError with its message."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=GIT_TIMEOUT, check=False,
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed") from error
    except subprocess.TimeoutExpired as error:
        raise GitError(f"git {args[0]} took more than {GIT_TIMEOUT} s") from error
    if result.returncode != 0:
        raise GitError(git_message(result.stderr, f"git {args[0]} exited {result.returncode}"))
    return result.stdout


def parse_ls_remote(output: str) -> dict[str, str]:
    """Tag name -> commit from `git ls-remote --tags` (an annotated tag's peeled commit)."""
    tags: dict[str, str] = {}
    for line in output.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/"):
            continue
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            tags[name.removesuffix("^{}")] = sha  # the commit wins over the tag object
        else:
            tags.setdefault(name, sha)
    return tags


def release_version(tag: str) -> Version | None:
    """The tag's PEP 440 version when it names a release (not a pre- or dev release)."""
    try:
        version = Version(tag)
    except InvalidVersion:
        return None
    return None if version.is_prerelease else version


def newest_release(tags: list[str]) -> str | None:
    """The release tag with the highest PEP 440 version, or None."""
    releases = [tag for tag in tags if release_version(tag) is not None]
    return max(releases, key=release_version, default=None)


class Templates:
    """Each template source's tags and history, read at most once per run."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._tags: dict[str, dict[str, str] | GitError] = {}
        self._history: dict[str, str | GitError] = {}

    def tags(self, source: str) -> dict[str, str]:
        """Tag -> commit of the template; GitError when it cannot be reached."""
        if source not in self._tags:
            try:
                self._tags[source] = parse_ls_remote(git("ls-remote", "--tags", source))
            except GitError as error:
                self._tags[source] = error
        return self._cached(self._tags[source])

    def history(self, source: str) -> str:
        """A git directory with the template's commits: the source itself when it is a
        local repository, otherwise a blob-less bare clone removed when the run ends."""
        if source not in self._history:
            try:
                self._history[source] = self._read_history(source)
            except GitError as error:
                self._history[source] = error
        return self._cached(self._history[source])

    def _read_history(self, source: str) -> str:
        if Path(source).is_dir():
            git("rev-parse", "--git-dir", cwd=source)
            return source
        clone = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-report-"))
        git("clone", "--quiet", "--bare", "--filter=blob:none", source, clone)
        return clone

    @staticmethod
    def _cached(value: Any) -> Any:
        if isinstance(value, GitError):
            raise value
        return value


def find_commit(sha: str, source: str, templates: Templates) -> tuple[str, str]:
    """The template's history and the full id of `sha` in it; Unknown when either is not."""
    try:
        history = templates.history(source)
    except GitError as error:
        raise Unknown(f"template history not readable: {error}") from error
    try:
        full = git("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", cwd=history)
    except GitError as error:
        raise Unknown(f"template version {sha} is not in the template's history") from error
    return history, full.strip()


def locate(commit: str, source: str, tags: dict[str, str], templates: Templates
           ) -> tuple[str, str | None]:
    """The project's template version as shown, and the newest release at or before it.

    A commit on a release tag is that tag (copier records the tag, cruft the commit). Any
    other commit is placed in the template's history and shown as `git describe` does,
    `<release>-<commits since>-g<commit>`. A copier `_commit` in that form is placed by its
    commit too, since a release may have been tagged on that commit after the project was
    generated; only when the history cannot be read does its own release count.
    """
    described = DESCRIBE.fullmatch(commit)
    sha = tags.get(commit) or (described["sha"] if described else commit)
    on_tags = [tag for tag, tagged in tags.items()
               if tagged == sha or (SHA.fullmatch(sha) and tagged.startswith(sha))]
    if (release := newest_release(on_tags)) is not None:
        return release, release
    try:
        history, full = find_commit(sha, source, templates)
    except Unknown:
        if described and release_version(described["tag"]) is not None:
            return commit, described["tag"]
        raise
    base = newest_release(git("tag", "--merged", full, cwd=history).split())
    short = git("rev-parse", "--short", full, cwd=history).strip()
    if on_tags:  # a pre-release or another tag
        return sorted(on_tags)[0], base
    if base is None:
        return short, None
    distance = git("rev-list", "--count", f"{base}..{full}", cwd=history).strip()
    return f"{base}-{distance}-g{short}", base


def check(project: Project, override: str | None, templates: Templates) -> dict[str, Any]:
    """The report on one project: template, version, newest release, status, components."""
    linked = project.tool != "cookiecutter"
    recorded = (override or project.source) if linked else None
    row: dict[str, Any] = {
        "path": project.path, "tool": project.tool, "template": recorded, "version": None,
        "latest": None, "status": "not linked", "update_available": None,
        "detail": "not linked to the template",
        "components": {name: project.answers.get(name) for name in COMPONENTS},
    }
    if not linked:
        return row
    row["version"] = project.commit
    try:
        if not recorded:
            raise Unknown(f"no template source recorded in {project.path}")
        if not project.commit:
            raise Unknown("no template version recorded")
        source = expand_source(recorded)
        try:
            tags = templates.tags(source)
        except GitError as error:
            raise Unknown(f"template not reachable: {error}") from error
        latest = newest_release(list(tags))
        if latest is None:
            raise Unknown("the template has no release tag")
        row["latest"] = latest
        row["version"], base = locate(project.commit, source, tags, templates)
    except (Unknown, GitError) as error:
        row.update(status="unknown", detail=str(error))
        return row
    behind = base is None or release_version(base) < release_version(latest)
    row.update(status="behind" if behind else "current", update_available=behind, detail=None)
    return row


def cell(value: Any) -> str:
    """A table cell: yes/no for booleans, `-` for nothing recorded."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def status_text(row: dict[str, Any]) -> str:
    """The STATUS column: behind, current, `unknown (...)` or not linked to the template."""
    if row["status"] == "unknown":
        return f"unknown ({row['detail']})"
    return row["detail"] or row["status"]


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a plain table, columns aligned with spaces, no trailing blanks."""
    lines = [[heading for heading, _ in COLUMNS]]
    for row in rows:
        values = {**row, **row["components"], "status": status_text(row)}
        lines.append([cell(values[key]) for _, key in COLUMNS])
    widths = [max(len(line[index]) for line in lines) for index in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
        for line in lines
    )


def exit_status(rows: list[dict[str, Any]]) -> int:
    """0 when every project is current, 1 otherwise (behind, not linked or unknown)."""
    return 0 if all(row["status"] == "current" for row in rows) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: paths, an optional template source for all, the output format."""
    parser = argparse.ArgumentParser(
        prog="fleet_report.py", description=__doc__.splitlines()[0],
        epilog="Exit status: 0 all current, 1 any behind, not linked or unknown, 2 usage error.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a generated project")
    parser.add_argument(
        "--template", metavar="SRC",
        help="template path or URL for every project (default: the one each project records)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_intermixed_args(argv)  # options may come between the paths


def main(argv: list[str] | None = None) -> int:
    """Report on every path; see the module docstring for the exit status."""
    args = parse_args(argv)
    projects, errors = [], []
    for path in args.paths:
        try:
            projects.append(read_project(path))
        except UsageError as error:
            errors.append(f"fleet_report.py: error: {error}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2
    with ExitStack() as stack:
        templates = Templates(stack)
        rows = [check(project, args.template, templates) for project in projects]
    print(json.dumps({"repos": rows}, indent=2) if args.json else table(rows))
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
