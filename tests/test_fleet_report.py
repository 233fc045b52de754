"""`scripts/fleet_report.py`: each generated project's template version, whether an update
exists, and its components, as a table or JSON, with the exit status a CI job can gate on.

The projects come from a throwaway template repository built as in `test_upgrade.py`:
every archived release, then the working tree as one commit tagged as the next minor
release, then one untagged commit on the default branch (work after the release, which
cruft follows). The fleet: a copier project from `v0.1.0` (behind), a copier project from
the new tag with non-default components (current), a cruft project from the default branch
(current: past the newest release), and a plain cookiecutter project (not linked).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter
from packaging.version import Version

from bake import ANSWERS_FILE, GIT_ENV, TEMPLATE_DIR, capture, copy_template, dev_tool
from test_upgrade import UpgradeTemplate, commit_all, copier_copy, cruft, fetch_releases, git

SCRIPT = TEMPLATE_DIR / "scripts" / "fleet_report.py"
FIRST_RELEASE = "v0.1.0"  # archived for good; it asked none of the component questions
HEADER = ["REPO", "TOOL", "VERSION", "LATEST", "DOCKER", "K8S", "TERRAFORM", "AIRFLOW", "CI",
          "PROBLEM", "MODEL", "STATUS"]
COMPONENTS = ("include_docker", "include_k8s", "include_terraform", "include_airflow", "ci",
              "problem_type", "model")
NOT_ASKED = dict.fromkeys(COMPONENTS)  # what a v0.1.0 project records: none of them
NOT_LINKED = "not linked to the template"


class Fleet:
    """The throwaway template and the four projects, in `root` (the script's cwd)."""

    def __init__(self, root: Path, template: Path, new_tag: str) -> None:
        self.root, self.template, self.new_tag = root, template, new_tag
        self.release_commit = git(template, "rev-parse", "HEAD~1")  # the working tree
        self.tip = git(template, "rev-parse", "HEAD")  # the untagged commit after it
        self.tip_short = git(template, "rev-parse", "--short", "HEAD")


def next_minor(tag: str) -> str:
    """The tag of the minor release after `tag`: v0.1.0 -> v0.2.0."""
    version = Version(tag)
    return f"v{version.major}.{version.minor + 1}.0"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet")
    path = root / "template"
    path.mkdir()
    with pytest.MonkeyPatch.context() as patch:  # copier runs git in-process
        for name, value in GIT_ENV.items():
            patch.setenv(name, value)
        git(path, "init", "--quiet")
        releases = fetch_releases(path)
        assert FIRST_RELEASE in releases
        git(path, "checkout", "--quiet", "-B", "main", releases[-1])
        git(path, "rm", "-r", "--quiet", ".")
        copy_template(path)
        commit_all(path, "The working tree")
        new_tag = next_minor(releases[-1])
        git(path, "tag", new_tag)  # lightweight; the archived ones are annotated
        git(path, "commit", "--quiet", "--allow-empty", "--message", "Work after the release")
        fleet = Fleet(root, path, new_tag)
        template = UpgradeTemplate(path, FIRST_RELEASE, fleet.release_commit)

        copier_copy(template, root / "old-copier", FIRST_RELEASE)
        copier_copy(template, root / "new-copier", new_tag, include_airflow=False, model="linear")

        config = root / "cookiecutter-config.yaml"
        config.write_text(f"cookiecutters_dir: {root / 'cc'}\nreplay_dir: {root / 'replay'}\n")
        context = {"project_name": "Cruft", "problem_type": "regression", "ci": "none"}
        created = cruft(
            "create", str(path), "--no-input", "--extra-context", json.dumps(context),
            "--output-dir", str(root), "--config-file", str(config), cwd=root, config=config,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        cookiecutter(str(path), no_input=True, output_dir=str(root), config_file=str(config),
                     extra_context={"project_name": "Plain"})
    assert {"cruft", "plain"} <= {child.name for child in root.iterdir()}
    return fleet


def report(fleet: Fleet, *args: str):
    """Run the script from the fleet's folder, as a user would."""
    env = {**os.environ, **GIT_ENV}
    return capture([sys.executable, str(SCRIPT), *args], cwd=fleet.root, env=env)


def table_cells(output: str) -> list[list[str]]:
    """The table's rows, each cut at the header's column starts: a misaligned cell shows."""
    lines = output.splitlines()
    starts = [lines[0].index(heading) for heading in HEADER]
    return [[line[start:end].strip() for start, end in zip(starts, starts[1:] + [None])]
            for line in lines]


def test_table_shows_versions_updates_and_components(fleet: Fleet) -> None:
    result = report(fleet, "old-copier", "new-copier", "cruft", "plain")

    assert result.returncode == 1, result.stdout + result.stderr  # one project is behind
    assert result.stderr == ""
    new = fleet.new_tag
    assert table_cells(result.stdout) == [
        HEADER,
        ["old-copier", "copier", FIRST_RELEASE, new, "-", "-", "-", "-", "-", "-", "-",
         "behind"],
        ["new-copier", "copier", new, new, "yes", "yes", "yes", "no", "github",
         "classification", "linear", "current"],
        ["cruft", "cruft", f"{new}-1-g{fleet.tip_short}", new, "yes", "yes", "yes", "yes",
         "none", "regression", "random_forest", "current"],
        ["plain", "cookiecutter", "-", "-", "-", "-", "-", "-", "-", "-", "-", NOT_LINKED],
    ]


def test_json_report(fleet: Fleet) -> None:
    result = report(fleet, "--json", "old-copier", "new-copier", "cruft", "plain")

    assert result.returncode == 1, result.stdout + result.stderr
    new, source = fleet.new_tag, str(fleet.template)
    assert json.loads(result.stdout) == {"repos": [
        {"path": "old-copier", "tool": "copier", "template": source, "version": FIRST_RELEASE,
         "latest": new, "status": "behind", "update_available": True, "detail": None,
         "components": NOT_ASKED},
        {"path": "new-copier", "tool": "copier", "template": source, "version": new,
         "latest": new, "status": "current", "update_available": False, "detail": None,
         "components": {"include_docker": True, "include_k8s": True,
                        "include_terraform": True, "include_airflow": False, "ci": "github",
                        "problem_type": "classification", "model": "linear"}},
        {"path": "cruft", "tool": "cruft", "template": source,
         "version": f"{new}-1-g{fleet.tip_short}", "latest": new, "status": "current",
         "update_available": False, "detail": None,
         "components": {"include_docker": True, "include_k8s": True,
                        "include_terraform": True, "include_airflow": True, "ci": "none",
                        "problem_type": "regression", "model": "random_forest"}},
        {"path": "plain", "tool": "cookiecutter", "template": None, "version": None,
         "latest": None, "status": "not linked", "update_available": None,
         "detail": NOT_LINKED, "components": NOT_ASKED},
    ]}


def test_exit_status_is_0_when_every_project_is_current(fleet: Fleet) -> None:
    result = report(fleet, "new-copier", "cruft")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [row[-1] for row in table_cells(result.stdout)[1:]] == ["current", "current"]


def test_agrees_with_copier_check_update(fleet: Fleet, tmp_path: Path) -> None:
    """copier's own check (which clones the template) says the same of the copier projects."""
    expected = {"old-copier": 2, "new-copier": 0}  # `check-update -q`: 2 = update available
    for name, status in expected.items():
        project = shutil.copytree(fleet.root / name, tmp_path / name)  # a clone, as teams have
        git(project, "init", "--quiet")
        commit_all(project, "Generated")
        checked = capture([dev_tool("copier"), "check-update", "-q"], cwd=project,
                          env={**os.environ, **GIT_ENV})
        assert checked.returncode == status, (name, checked.stdout + checked.stderr)


def write_answers(folder: Path, commit: str, source: Path) -> None:
    """A copier project's answers file (all the script reads) recording `commit`."""
    folder.mkdir()
    answers = {"_commit": commit, "_src_path": str(source), "model": "gradient_boosting"}
    (folder / ANSWERS_FILE).write_text(yaml.safe_dump(answers))


def test_versions_are_placed_by_commit(fleet: Fleet, tmp_path: Path) -> None:
    """copier records `git describe` for an untagged commit; a release tagged on that commit
    later makes it that release (as `copier check-update` finds). cruft records the commit:
    a release's commit is shown as its tag."""
    short_release = git(fleet.template, "rev-parse", "--short", "HEAD~1")
    write_answers(tmp_path / "before-tagging", f"{FIRST_RELEASE}-1-g{short_release}",
                  fleet.template)
    write_answers(tmp_path / "after-release", f"{fleet.new_tag}-1-g{fleet.tip_short}",
                  fleet.template)
    (tmp_path / "old-cruft").mkdir()
    state = {
        "template": str(fleet.template), "checkout": None,
        "commit": git(fleet.template, "rev-parse", f"{FIRST_RELEASE}^{{commit}}"),
        "context": {"cookiecutter": {"include_k8s": False}},
    }
    (tmp_path / "old-cruft" / ".cruft.json").write_text(json.dumps(state))

    result = capture(
        [sys.executable, str(SCRIPT), "before-tagging", "after-release", "old-cruft"],
        cwd=tmp_path, env={**os.environ, **GIT_ENV},
    )

    assert result.returncode == 1, result.stdout + result.stderr
    new = fleet.new_tag
    assert table_cells(result.stdout)[1:] == [
        ["before-tagging", "copier", new, new, "-", "-", "-", "-", "-", "-",
         "gradient_boosting", "current"],
        ["after-release", "copier", f"{new}-1-g{fleet.tip_short}", new, "-", "-", "-", "-",
         "-", "-", "gradient_boosting", "current"],
        ["old-cruft", "cruft", FIRST_RELEASE, new, "-", "no", "-", "-", "-", "-", "-",
         "behind"],
    ]


def test_unreachable_template_is_reported_not_raised(fleet: Fleet) -> None:
    """`--template` replaces every recorded source; one git cannot read is `unknown (...)`."""
    missing = fleet.root / "no-such-template"
    result = report(fleet, "new-copier", "--template", str(missing), "plain")

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    rows = table_cells(result.stdout)
    assert rows[1][:4] == ["new-copier", "copier", fleet.new_tag, "-"]
    assert rows[1][-1] == (
        f"unknown (template not reachable: '{missing}' does not appear to be a git repository)"
    )
    assert rows[2][-1] == NOT_LINKED  # nothing to check: --template does not link it
    data = json.loads(report(fleet, "--json", "new-copier", "--template", str(missing)).stdout)
    assert data["repos"][0]["template"] == str(missing)
    assert data["repos"][0]["status"] == "unknown"
    assert data["repos"][0]["update_available"] is None


def test_a_bad_path_is_one_line_naming_it(fleet: Fleet) -> None:
    (fleet.root / "empty").mkdir(exist_ok=True)
    result = report(fleet, "old-copier", "nowhere", "empty")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "fleet_report.py: error: nowhere: not a directory",
        "fleet_report.py: error: empty: not a generated project (no .copier-answers.yml, "
        "no .cruft.json, and not the files of a cookiecutter project: pyproject.toml, "
        "dvc.yaml, config/model_config.yaml)",
    ]


def test_documented_example_has_the_reports_columns() -> None:
    """docs/updating.md shows a report with the script's columns, every cell filled."""
    page = (TEMPLATE_DIR / "docs" / "updating.md").read_text()
    block = page.split("## Fleet report", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    assert lines[0].startswith("$ .venv/bin/python scripts/fleet_report.py ")
    table = "\n".join(line for line in lines[1:] if not line.startswith("$ ") and line != "1")
    rows = table_cells(table)
    assert rows[0] == HEADER
    statuses = {"current", "behind", NOT_LINKED}
    assert all(len(row) == len(HEADER) and all(row) and row[-1] in statuses for row in rows[1:])
    assert lines[-2:] == ["$ echo $?", "1"] and "behind" in [row[-1] for row in rows]
