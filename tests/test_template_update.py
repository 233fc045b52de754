"""The generated template-update workflow, run here step by step as GitHub would run it.

A project generated from the previous release (the newest archived release whose template
differs from the working tree) is updated to the working tree, released in a throwaway
template repository as the next minor version: its `## [Unreleased]` CHANGELOG section
becomes `## [X.Y.Z] - <date>` in a release commit, tagged `vX.Y.Z`.

The workflow comes from a default render of the working tree (the old release had none).
Each `run:` step runs as GitHub runs it: `bash --noprofile --norc -eo pipefail`, the
workflow's, job's and step's `env:` with their `${{ }}` values resolved, files behind
GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY, and the step skipped when its `if:`
is false. Of the `uses:` steps, checkout, setup-python and setup-uv stand for what is
already here (the project is checked out; the template venv's python and uv are on
PATH), and the pull request action's inputs are recorded: it is the one step that needs
GitHub. The tests then check what the pull request would carry.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from bake import (
    ANSWERS_FILE, GIT_ENV, UpgradeTemplate, commit_all, conflict_markers, copier_copy, cruft,
    git, next_minor, project_env, release_bundles, render, rewritten_line, upgrade_template,
)

WORKFLOW = ".github/workflows/template-update.yml"
TOKEN = "github_pat_for_the_tests"
SECRETS = {"TEMPLATE_UPDATE_TOKEN": TOKEN}
# Steps GitHub's own actions run: here, what they would set up is already in place.
RUNNER_ACTIONS = ("actions/checkout", "actions/setup-python", "astral-sh/setup-uv")
PULL_REQUEST_ACTION = "peter-evans/create-pull-request"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# The only `if:` form the workflow uses, and so the only one this runner evaluates.
CONDITION = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+) == '([^']*)'")
HEREDOC = re.compile(r"([\w-]+)<<(\S+)")


# ---------------------------------------------------------------------------------------
# Running a workflow's job locally


class StepFailed(Exception):
    """A `run:` step exited non-zero: GitHub would stop the job there."""


@dataclass
class WorkflowRun:
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # by step id
    ran: list[str] = field(default_factory=list)  # step names, in order
    pull_request: dict[str, str] | None = None  # the action's resolved inputs
    summary: str = ""


def command_file(path: Path) -> dict[str, str]:
    """What a step wrote to GITHUB_OUTPUT or GITHUB_ENV: `key=value` or `key<<EOF` lines."""
    values, lines = {}, path.read_text().splitlines() if path.exists() else []
    while lines:
        line = lines.pop(0)
        if heredoc := HEREDOC.fullmatch(line):
            end = lines.index(heredoc.group(2))
            values[heredoc.group(1)], lines = "\n".join(lines[:end]), lines[end + 1:]
        elif line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def resolve(value: Any, context: dict[str, str]) -> str:
    """A `${{ }}` value as GitHub expands it; a name the context lacks fails the test."""
    if isinstance(value, bool):  # YAML's booleans reach the action as "true" and "false"
        return str(value).lower()

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("secrets.") or name.startswith("steps."):
            return context.get(name, "")  # unset secrets and outputs expand to ""
        assert name in context, f"the local runner does not know `${{{{ {name} }}}}`"
        return context[name]
    return EXPRESSION.sub(lookup, str(value))


def condition_holds(expression: str, outputs: dict[str, dict[str, str]]) -> bool:
    found = CONDITION.fullmatch(expression.strip())
    assert found, f"only `steps.<id>.outputs.<name> == '...'` is evaluated here: {expression}"
    step, name, expected = found.groups()
    return outputs.get(step, {}).get(name, "") == expected


def run_job(
    workflow: dict[str, Any], project: Path, runner_temp: Path, env: dict[str, str],
    secrets: dict[str, str], stop_after: str | None = None,
) -> WorkflowRun:
    """Run the workflow's one job in `project`, up to the step `stop_after` if given."""
    (job,) = workflow["jobs"].values()
    runner_temp.mkdir(parents=True)
    run = WorkflowRun()
    context = {"runner.temp": str(runner_temp), "github.workflow": workflow["name"],
               **{f"secrets.{name}": value for name, value in secrets.items()}}
    added_env: dict[str, str] = {}
    summary = runner_temp / "step-summary.md"
    for number, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses", "").split("@")[0]
        if "if" in step and not condition_holds(step["if"], run.outputs):
            continue
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action == PULL_REQUEST_ACTION:
                run.pull_request = {key: resolve(value, context)
                                    for key, value in step.get("with", {}).items()}
            else:
                assert action in RUNNER_ACTIONS, f"the local runner cannot stand in for {action}"
            run.ran.append(name)
            continue
        output = runner_temp / f"output-{number}"
        step_env = {**env, **added_env, "GITHUB_OUTPUT": str(output),
                    "GITHUB_ENV": str(runner_temp / f"env-{number}"),
                    "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(runner_temp)}
        for scope in (workflow, job, step):
            step_env.update({key: resolve(value, context)
                             for key, value in scope.get("env", {}).items()})
        script = runner_temp / f"step-{number}.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=project, env=step_env, capture_output=True, text=True, check=False,
        )
        run.ran.append(name)
        if "id" in step:
            outcome = "success" if done.returncode == 0 else "failure"
            context[f"steps.{step['id']}.outcome"] = outcome
        if done.returncode != 0 and step.get("continue-on-error") is not True:
            raise StepFailed(f"step {name!r} exited {done.returncode}:\n"
                             f"{(done.stdout + done.stderr)[-6000:]}")
        outputs = command_file(output)
        added_env.update(command_file(runner_temp / f"env-{number}"))
        if "id" in step:
            run.outputs[step["id"]] = outputs
            context.update({f"steps.{step['id']}.outputs.{key}": value
                            for key, value in outputs.items()})
        if stop_after is not None and step.get("id") == stop_after:
            break
    run.summary = summary.read_text() if summary.exists() else ""
    return run


# ---------------------------------------------------------------------------------------
# The pull request's description


def section(body: str, title: str) -> str:
    """The text under `## title` in the description, up to the next `## ` heading."""
    found = re.search(rf"^## {re.escape(title)}\n\n(.*?)(?=^## |\Z)", body, re.M | re.S)
    assert found, f"the description has no `## {title}` section:\n{body}"
    return found.group(1).strip()


def changelog_after_the_heading(body: str) -> str:
    """Everything after `## Template changes (CHANGELOG)`: it holds `###` headings."""
    marker = "## Template changes (CHANGELOG)\n\n"
    assert marker in body, body
    return body.split(marker, 1)[1].strip()


def demoted(text: str) -> str:
    """Markdown headings one level down, code blocks left alone."""
    lines, fenced = [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        lines.append("#" + line if line.startswith("#") and not fenced else line)
    return "\n".join(lines)


def entries_between(changelog: str, new_heading: str, old: str) -> str:
    """The CHANGELOG from the new version's heading down to the old version's heading."""
    start = changelog.index(new_heading)
    end = re.search(rf"^## \[{re.escape(str(Version(old)))}\]", changelog, re.M)
    assert end, f"the CHANGELOG has no section for {old}"
    return changelog[start:end.start()].strip()


# ---------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class Release:
    template: UpgradeTemplate  # HEAD: the release commit of the working tree
    tag: str  # the new release's tag
    heading: str  # its CHANGELOG heading
    changelog: str  # CHANGELOG.md at the tag


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The working tree released as the next minor version after the newest archived one."""
    template = upgrade_template(tmp_path_factory.mktemp("update") / "template")
    tag = next_minor(list(release_bundles())[-1])
    changelog_path = template.path / "CHANGELOG.md"
    changelog = changelog_path.read_text()
    assert "\n## [Unreleased]\n" in changelog, "CHANGELOG.md has no `## [Unreleased]` section"
    heading = f"## [{Version(tag)}] - {datetime.date.today().isoformat()}"
    changelog = changelog.replace("\n## [Unreleased]\n", f"\n{heading}\n", 1)
    changelog_path.write_text(changelog)
    commit_all(template.path, f"Release {tag}")
    git(template.path, "tag", tag)
    return Release(template, tag, heading, changelog)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The workflow as the working tree generates it (default answers)."""
    project = render("copier", tmp_path_factory.mktemp("workflow"))
    return yaml.safe_load((project / WORKFLOW).read_text())


@pytest.fixture
def runner_env(tmp_path: Path) -> dict[str, str]:
    """A runner's environment: no git identity, the project's own virtualenv; cruft's
    cookiecutter writes its replay files under tmp_path instead of the home folder."""
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\n")
    env = {key: value for key, value in project_env(tmp_path / "project" / ".venv").items()
           if not key.startswith("GIT_")}
    env.update(
        CI="true", GITHUB_ACTIONS="true", GITHUB_REPOSITORY="team/my-ml-project",
        GITHUB_RUN_ID="1", GITHUB_WORKSPACE=str(tmp_path / "project"),
        GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
        COOKIECUTTER_CONFIG=str(config),
    )
    return env


def staged_conflicts(project: Path) -> list[str]:
    """Staged `*.rej` files and `path:line` of staged lines that are conflict markers."""
    listed = git(project, "ls-files", "--cached", "--", "*.rej").splitlines()
    found = subprocess.run(
        ["git", "grep", "--cached", "-n", "-E", "^(<<<<<<< |>>>>>>> |=======$)"],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert found.returncode in (0, 1), found.stderr  # 1: no line matched
    return listed + [":".join(line.split(":")[:2]) for line in found.stdout.splitlines()]


def generated_repository(project: Path, message: str) -> Path:
    git(project, "init", "--quiet")
    commit_all(project, message)
    return project


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """copier runs git in-process when the tests generate projects: it sees this."""
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)


# ---------------------------------------------------------------------------------------
# Tests


def test_a_missing_token_stops_the_run_naming_the_secret(
    workflow: dict[str, Any], tmp_path: Path, runner_env: dict[str, str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(StepFailed) as failed:
        run_job(workflow, project, tmp_path / "runner", runner_env, secrets={})
    assert "::error::secret TEMPLATE_UPDATE_TOKEN is not set" in str(failed.value)
    assert "exited 1" in str(failed.value)


def test_runs_weekly_and_on_demand_one_run_at_a_time(workflow: dict[str, Any]) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}  # TEMPLATE_UPDATE_TOKEN pushes


@pytest.mark.e2e  # installs copier, cruft and the updated project from PyPI; runs its tests
def test_copier_project_is_updated_tested_and_described(
    release: Release, workflow: dict[str, Any], tmp_path: Path, runner_env: dict[str, str],
    shared_env: dict[str, str],
) -> None:
    old = release.template.release
    project = generated_repository(
        copier_copy(release.template, tmp_path / "project", old), f"Generate from {old}")
    # The worker's mypy cache, as a runner would restore one: `make lint` then checks the
    # installed packages only where no other project on this worker did.
    env = {**runner_env, "MYPY_CACHE": shared_env["MYPY_CACHE"]}

    run = run_job(workflow, project, tmp_path / "runner", env, SECRETS)

    assert run.outputs["detect"] == {"tool": "copier"}
    check = run.outputs["check"]
    assert check["update"] == "true", run.summary
    assert Version(check["current"]) == Version(old)
    assert Version(check["latest"]) == Version(release.tag)
    assert "update=true" in run.summary
    # The update is applied: the answers file records the new tag, nothing conflicts.
    assert yaml.safe_load((project / ANSWERS_FILE).read_text())["_commit"] == release.tag
    assert run.outputs["update"]["ref"] == release.tag
    assert staged_conflicts(project) == []  # .venv exists now: only the staged files count
    assert (project / WORKFLOW).is_file()  # the template's change, staged for the PR
    assert run.outputs["update"]["conflicts"] == "false"
    assert "Install the updated project" in run.ran
    log = (tmp_path / "runner" / "template-update" / "tests.log").read_text()
    assert run.outputs["test"] == {"result": "passed"}, log[-6000:]
    assert re.search(r"\d+ passed", log), log[-3000:]

    body = (tmp_path / "runner" / "template-update" / "pull-request.md").read_text()
    assert section(body, "Conflicts") == "None."
    assert section(body, "Tests").startswith("`make install`, `make lint` and `make test` pass")
    assert WORKFLOW in section(body, "Files")
    expected = demoted(entries_between(release.changelog, release.heading, old))
    assert changelog_after_the_heading(body) == expected
    assert f"### [{Version(old)}]" not in body and "## [Unreleased]" not in body

    assert run.pull_request == {
        "token": TOKEN,
        "branch": "template-update",
        "delete-branch": "true",
        "commit-message": run.outputs["body"]["title"],
        "title": run.outputs["body"]["title"],
        "body-path": f"{tmp_path / 'runner'}/template-update/pull-request.md",
    }
    assert run.outputs["body"]["title"] == (
        f"Update from the template: {Version(old)} -> {Version(release.tag)}")


@pytest.mark.e2e  # installs copier and cruft from PyPI
def test_an_edit_the_template_overlaps_is_listed_as_a_conflict(
    release: Release, workflow: dict[str, Any], tmp_path: Path, runner_env: dict[str, str]
) -> None:
    old = release.template.release
    name, index = rewritten_line(
        copier_copy(release.template, tmp_path / "old-render", old),
        copier_copy(release.template, tmp_path / "new-render", release.tag),
    )
    project = generated_repository(
        copier_copy(release.template, tmp_path / "project", old), f"Generate from {old}")
    lines = (project / name).read_text().splitlines(keepends=True)
    lines[index] = lines[index].rstrip("\n") + "  # changed by the team\n"
    (project / name).write_text("".join(lines))
    commit_all(project, "The team changes a line the template rewrites")

    run = run_job(workflow, project, tmp_path / "runner", runner_env, SECRETS)

    assert {marker.split(":")[0] for marker in conflict_markers(project)} == {name}
    work = tmp_path / "runner" / "template-update"
    assert (work / "conflicts.txt").read_text().split() == [name]
    body = (work / "pull-request.md").read_text()
    conflicts = section(body, "Conflicts")
    assert re.findall(r"^- `(.+)`$", conflicts, re.M) == [name], conflicts
    assert "install" not in run.outputs and "test" not in run.outputs  # both skipped
    assert section(body, "Tests").startswith("Not run: resolve the conflicts first.")
    assert changelog_after_the_heading(body) == demoted(
        entries_between(release.changelog, release.heading, old))
    # Staged with its markers, so the pull request's branch shows the conflict.
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    assert "<<<<<<< before updating" in git(project, "show", f":{name}")
    assert run.pull_request is not None and run.pull_request["token"] == TOKEN


@pytest.mark.e2e  # installs copier and cruft from PyPI
def test_cruft_project_is_detected_checked_and_updated(
    release: Release, workflow: dict[str, Any], tmp_path: Path, runner_env: dict[str, str]
) -> None:
    old = release.template.release
    config = Path(runner_env["COOKIECUTTER_CONFIG"])
    created = cruft(
        "create", str(release.template.path), "--checkout", old, "--no-input",
        "--output-dir", str(tmp_path / "out"), "--config-file", str(config),
        cwd=tmp_path, config=config,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    (generated,) = (tmp_path / "out").iterdir()
    project = generated_repository(generated.rename(tmp_path / "project"), f"Generate from {old}")

    run = run_job(workflow, project, tmp_path / "runner", runner_env, SECRETS, stop_after="update")

    assert run.outputs["detect"] == {"tool": "cruft"}
    check = run.outputs["check"]
    assert (check["update"], check["current"], check["latest"]) == ("true", old, release.tag)
    assert run.outputs["update"]["ref"] == release.tag
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == git(release.template.path, "rev-parse", f"{release.tag}^{{commit}}")
    assert (tmp_path / "runner" / "template-update" / "conflicts.txt").read_text() == ""
    assert run.outputs["update"]["conflicts"] == "false"
    assert conflict_markers(project) == [] and list(project.rglob("*.rej")) == []

    # Once the update is merged, the next run finds nothing to do and stops after the check.
    commit_all(project, f"Update from the template to {release.tag}")
    again = run_job(workflow, project, tmp_path / "runner-again", runner_env, SECRETS)
    assert again.outputs["check"]["update"] == "false"
    assert "update" not in again.outputs and again.pull_request is None
    assert again.ran[-1] == "Check for a newer template release"
