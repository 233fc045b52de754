"""`copier update` brings a new template version into a project and keeps the team's edits."""

from pathlib import Path

import copier
import yaml

from bake import ANSWERS_FILE, commit_all, copy_template, git

TEMPLATE_LINE = "# Added by template v0.2.0.\n"
USER_LINES = "\n[tool.coverage.run]\nbranch = true\n"


def test_update_applies_template_change_and_keeps_user_edit(tmp_path: Path) -> None:
    template = copy_template(tmp_path / "template")
    git(template, "init", "--quiet")
    commit_all(template, "Template v0.1.0")
    git(template, "tag", "v0.1.0")

    project = tmp_path / "project"
    copier.run_copy(str(template), project, vcs_ref="v0.1.0", defaults=True, quiet=True)
    git(project, "init", "--quiet")
    commit_all(project, "Generate from template v0.1.0")

    # The team appends to the end of a file; the template later changes its first line.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + USER_LINES)
    commit_all(project, "Measure branch coverage")
    template_pyproject = template / "{{cookiecutter.project_slug}}" / "pyproject.toml"
    template_pyproject.write_text(TEMPLATE_LINE + template_pyproject.read_text())
    commit_all(template, "Template v0.2.0")
    git(template, "tag", "v0.2.0")

    copier.run_update(project, defaults=True, overwrite=True, unsafe=False, quiet=True)

    text = pyproject.read_text()
    assert text.startswith(TEMPLATE_LINE)
    assert text.endswith(USER_LINES)
    assert "<<<<<<<" not in text
    assert list(project.rglob("*.rej")) == []
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert answers["_commit"] == "v0.2.0"


def tracked_files(repo: Path) -> dict[str, bytes]:
    listing = git(repo, "ls-files", "-z")
    return {name: (repo / name).read_bytes() for name in filter(None, listing.split("\0"))}


def changes(before: dict[str, bytes], after: dict[str, bytes]) -> dict[str, set[str]]:
    return {
        "added": set(after) - set(before),
        "removed": set(before) - set(after),
        "changed": {name for name in set(before) & set(after) if before[name] != after[name]},
    }


def test_update_changing_a_component_answer_touches_only_that_component(
    tmp_path: Path,
) -> None:
    """Turning Airflow on adds its DAG and README section; turning it off takes them away."""
    template = copy_template(tmp_path / "template")
    git(template, "init", "--quiet")
    commit_all(template, "Template v0.1.0")
    git(template, "tag", "v0.1.0")

    project = tmp_path / "project"
    copier.run_copy(
        str(template), project, data={"include_airflow": False}, defaults=True, quiet=True
    )
    git(project, "init", "--quiet")
    commit_all(project, "Generate without Airflow")
    without = tracked_files(project)

    copier.run_update(
        project, data={"include_airflow": True}, defaults=True, overwrite=True, unsafe=False,
        quiet=True,
    )
    commit_all(project, "Turn Airflow on")
    with_airflow = tracked_files(project)
    found = changes(without, with_airflow)
    assert found["removed"] == set()
    assert found["added"] and all(name.startswith("airflow/") for name in found["added"])
    assert found["changed"] == {"README.md", ANSWERS_FILE}
    assert "## Orchestration (Airflow)" in (project / "README.md").read_text()
    assert yaml.safe_load((project / ANSWERS_FILE).read_text())["include_airflow"] is True

    copier.run_update(
        project, data={"include_airflow": False}, defaults=True, overwrite=True, unsafe=False,
        quiet=True,
    )
    commit_all(project, "Turn Airflow off again")
    assert tracked_files(project) == without
