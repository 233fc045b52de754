"""Upgrading a generated project from the previous template release to this working tree.

What the upgrade path promises to a team whose project came from the last release:

- `copier update --vcs-ref HEAD` (and `cruft update`) bring in every template change and keep
  the team's own edits to code, config and README, and their new files: afterwards the
  project equals a fresh render of the new version plus those edits, with no conflict
  marker and no `*.rej` file; copier's answers file records the questions added since,
  with their defaults;
- an edit on a line the template also rewrote becomes inline conflict markers, and the
  generated project's own pre-commit hook (`check-merge-conflict --assume-in-merge`)
  refuses the file until the markers are resolved;
- `copier recopy` keeps the recorded answers, non-default ones included, and gives exactly
  the files of a fresh copy with those answers.

"The previous release" comes from `tests/releases/`: each release is kept there as a git
bundle (`vX.Y.Z.bundle`, PEP 440, the tag and its history), so the tests need neither the
tags nor the history of the clone they run in (CI clones have neither). The tests build a
throwaway template repository holding every archived release plus, on top, one commit
with the working tree as git would commit it, so uncommitted template work is what the
projects are updated to; they upgrade from the newest release whose template differs from
the working tree's (right after a release, that is the release before).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
import yaml
from cookiecutter.main import cookiecutter
from packaging.version import InvalidVersion, Version

from bake import (
    ANSWERS_FILE, GIT_ENV, RELEASES_DIR, TEMPLATE_DIR, UpgradeTemplate, capture, commit_all,
    conflict_markers, copier_copy, cruft, dev_tool, fetch_releases, git, release_bundles,
    rewritten_line, tree, upgrade_template,
)

CONFLICT_START, CONFLICT_END = "<<<<<<< before updating", ">>>>>>> after updating"

# The team's edits to a project generated from the previous release, each a function of
# the file's text ("" for a new file). None touches or borders a line the template changed
# since v0.1.0, so each must survive the update as is. The config edit sits two lines below
# one: git apply's context no longer matches there and copier merges the file three-way.
TEAM_FUNCTION = '''

def clip(values: list[float], low: float, high: float) -> list[float]:
    """Each value moved into [low, high]; added by the team, not by the template."""
    return [min(max(value, low), high) for value in values]
'''
TEAM_README = "\n## Team notes\n\nRetrain after each monthly data drop; ask #ml-platform first.\n"
TEAM_TEST = '''"""The team's own test module: a file the template never had."""

from {package}.features import clip


def test_clip_moves_values_into_range() -> None:
    assert clip([-1.0, 0.5, 2.0], 0.0, 1.0) == [0.0, 0.5, 1.0]
'''


def tuned_max_depth(text: str) -> str:
    """A hyperparameter the team tuned (two lines below lines v0.1.0 -> HEAD rewrote)."""
    assert "    max_depth: 8\n" in text, "the default config no longer sets max_depth: 8"
    return text.replace("    max_depth: 8\n", "    max_depth: 12\n", 1)


def team_edits(package: str) -> dict[str, Callable[[str], str]]:
    return {
        f"src/{package}/features.py": lambda text: text + TEAM_FUNCTION,
        "config/model_config.yaml": tuned_max_depth,
        "README.md": lambda text: text + TEAM_README,
        "tests/test_team_clip.py": lambda text: text + TEAM_TEST.format(package=package),
    }


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """copier runs git in-process and cruft and pre-commit in subprocesses: all see this."""
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> UpgradeTemplate:
    return upgrade_template(tmp_path_factory.mktemp("upgrade") / "template")


def test_release_bundles_are_this_repositorys_release_tags(tmp_path: Path) -> None:
    """Each bundle is complete and holds its own tag; the tags of this clone, where it has
    any, each have a bundle with the same commit (a release is archived when tagged)."""
    bundles = release_bundles()
    for tag, bundle in bundles.items():
        refs = [line.split()[1] for line in git(tmp_path, "bundle", "list-heads", str(bundle))
                .splitlines()]
        assert refs == [f"refs/tags/{tag}"], f"{bundle.name} holds {refs}"
    repo = tmp_path / "releases"
    repo.mkdir()
    git(repo, "init", "--quiet")
    fetch_releases(repo)  # git checks every object, and refuses a missing prerequisite
    for tag in git(TEMPLATE_DIR, "tag", "--list", "v*").split():
        try:
            if Version(tag).is_prerelease:
                continue
        except InvalidVersion:
            continue
        assert tag in bundles, f"release {tag} has no bundle in {RELEASES_DIR}: see Releasing"
        assert (git(TEMPLATE_DIR, "rev-parse", f"{tag}^{{commit}}")
                == git(repo, "rev-parse", f"{tag}^{{commit}}")), f"{tag}: bundle and tag differ"


@pytest.fixture(scope="module")
def renders(
    template: UpgradeTemplate, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """Fresh copier renders with the default answers: the previous release and HEAD."""
    root = tmp_path_factory.mktemp("renders")
    return (copier_copy(template, root / "release", template.release),
            copier_copy(template, root / "head", "HEAD"))


def tree_diff(actual: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    differing = [f"only in project: {name}" for name in sorted(set(actual) - set(expected))]
    differing += [f"missing: {name}" for name in sorted(set(expected) - set(actual))]
    differing += [f"differs: {name}" for name in sorted(set(actual) & set(expected))
                  if actual[name] != expected[name]]
    return differing


def apply_team_edits(project: Path) -> dict[str, Callable[[str], str]]:
    """Make the team's edits in `project`; returns them by path, for the expected tree."""
    (package,) = [path.name for path in (project / "src").iterdir() if path.is_dir()]
    edits = team_edits(package)
    for name, edit in edits.items():
        path = project / name
        path.write_text(edit(path.read_text() if path.exists() else ""))
    return edits


def expected_tree(fresh: Path, edits: dict[str, Callable[[str], str]]) -> dict[str, bytes]:
    """A fresh render of the new version with the team's edits made again."""
    expected = tree(fresh)
    for name, edit in edits.items():
        expected[name] = edit(expected.get(name, b"").decode()).encode()
    return expected


def template_changes(release: Path, head: Path) -> list[str]:
    """Files the template changed, added or removed between the two default renders."""
    old, new = tree(release), tree(head)
    return sorted(name for name in set(old) | set(new)
                  if name != ANSWERS_FILE and old.get(name) != new.get(name))


def questions(copier_yml: str) -> dict[str, dict]:
    """copier's questions that users answer (hidden ones have `when: false`)."""
    return {
        name: spec for name, spec in yaml.safe_load(copier_yml).items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("when") is not False
    }


def test_copier_update_applies_template_changes_and_keeps_team_edits(
    template: UpgradeTemplate, renders: tuple[Path, Path], tmp_path: Path
) -> None:
    release_render, head_render = renders
    changed = template_changes(release_render, head_render)
    assert changed, f"the working tree renders the same project as {template.release}"

    project = copier_copy(template, tmp_path / "project", template.release)
    git(project, "init", "--quiet")
    commit_all(project, f"Generate from template {template.release}")
    edits = apply_team_edits(project)
    commit_all(project, "The team's work")

    copier.run_update(
        project, vcs_ref="HEAD", defaults=True, overwrite=True, unsafe=False, quiet=True
    )

    assert conflict_markers(project) == []
    assert list(project.rglob("*.rej")) == []
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    # Every template change is in, and every team edit is still there: the project is the
    # new version's fresh render with the same edits made again.
    assert tree_diff(tree(project), expected_tree(head_render, edits)) == []
    # The answers file now records the questions added since the release, with defaults.
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    old_questions = questions(git(template.path, "show", f"{template.release}:copier.yml"))
    new_questions = questions((template.path / "copier.yml").read_text())
    for name in new_questions.keys() - old_questions.keys():
        assert name in answers, f"{ANSWERS_FILE} does not record the new question {name}"
        default = new_questions[name].get("default")
        if not (isinstance(default, str) and "{" in default):  # not a computed default
            assert answers[name] == default, name
    assert answers["_commit"] != template.release


def keep_after_updating(text: str) -> str:
    """Resolve every conflict by taking the template's side ("after updating")."""
    kept, side = [], None
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == CONFLICT_START:
            side = "before"
        elif line.rstrip("\n") == "=======" and side == "before":
            side = "after"
        elif line.rstrip("\n") == CONFLICT_END and side == "after":
            side = None
        elif side != "before":
            kept.append(line)
    return "".join(kept)


@pytest.mark.e2e  # installs the hook's environment from PyPI
def test_overlapping_edit_conflicts_inline_and_pre_commit_refuses_it(
    template: UpgradeTemplate, renders: tuple[Path, Path], tmp_path: Path
) -> None:
    release_render, head_render = renders
    name, index = rewritten_line(release_render, head_render)
    project = copier_copy(template, tmp_path / "project", template.release)
    git(project, "init", "--quiet")
    commit_all(project, f"Generate from template {template.release}")
    path = project / name
    lines = path.read_text().splitlines(keepends=True)
    team_line = lines[index].rstrip("\n") + "  # changed by the team\n"
    lines[index] = team_line
    path.write_text("".join(lines))
    commit_all(project, "The team changes a line the template rewrites")

    copier.run_update(
        project, vcs_ref="HEAD", defaults=True, overwrite=True, unsafe=False, quiet=True
    )

    text = path.read_text()
    assert CONFLICT_START in text and CONFLICT_END in text, text
    ours = text.split(CONFLICT_START, 1)[1].split("=======", 1)[0]
    assert team_line in ours, f"the team's line is not on its side of the conflict:\n{text}"
    assert {marker.split(":")[0] for marker in conflict_markers(project)} == {name}
    assert list(project.rglob("*.rej")) == []
    assert git(project, "diff", "--name-only", "--diff-filter=U") == name

    # `git add -A` takes the markers as they are; the project's pre-commit hook does not.
    git(project, "add", "--all")
    pre_commit = [dev_tool("pre-commit"), "run", "check-merge-conflict", "--files", name]
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    refused = capture(pre_commit, cwd=project, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"{name}:" in refused.stdout and "Merge conflict string" in refused.stdout, (
        refused.stdout + refused.stderr
    )

    # Taking the template's side everywhere gives exactly the new version of the file.
    path.write_text(keep_after_updating(text))
    assert path.read_bytes() == (head_render / name).read_bytes()
    git(project, "add", "--", name)
    accepted = capture(pre_commit, cwd=project, env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Passed" in accepted.stdout


def test_cruft_update_applies_template_changes_and_keeps_team_edits(
    template: UpgradeTemplate, tmp_path: Path
) -> None:
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    created = cruft(
        "create", str(template.path), "--checkout", template.release, "--no-input",
        "--output-dir", str(tmp_path / "out"), "--config-file", str(config),
        cwd=tmp_path, config=config,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    (project,) = (tmp_path / "out").iterdir()
    release_commit = git(template.path, "rev-parse", f"{template.release}^{{commit}}")
    assert json.loads((project / ".cruft.json").read_text())["commit"] == release_commit
    git(project, "init", "--quiet")
    commit_all(project, f"Generate from template {template.release}")
    edits = apply_team_edits(project)
    commit_all(project, "The team's work")

    # The template's default branch has moved past the release the project came from.
    assert cruft("check", cwd=project, config=config).returncode == 1
    updated = cruft("update", "--checkout", template.head, "-y", cwd=project, config=config)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "has been updated" in updated.stdout, updated.stdout + updated.stderr

    assert conflict_markers(project) == []
    assert list(project.rglob("*.rej")) == []
    # The new version rendered afresh by plain cookiecutter (hooks included), default answers.
    fresh = Path(cookiecutter(
        str(template.path), no_input=True, output_dir=str(tmp_path / "fresh"),
        config_file=str(config),
    ))
    actual = {name: data for name, data in tree(project).items() if name != ".cruft.json"}
    assert tree_diff(actual, expected_tree(fresh, edits)) == []
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == template.head
    cookiecutter_json = json.loads((template.path / "cookiecutter.json").read_text())
    recorded = state["context"]["cookiecutter"]
    assert {name for name in cookiecutter_json if not name.startswith("_")} <= set(recorded)
    assert cruft("check", cwd=project, config=config).returncode == 0


def test_copier_recopy_keeps_answers_and_gives_a_fresh_copy(
    template: UpgradeTemplate, tmp_path: Path
) -> None:
    answers = {"license": "Apache-2.0", "include_airflow": False}
    project = copier_copy(template, tmp_path / "project", "HEAD", **answers)
    git(project, "init", "--quiet")
    commit_all(project, "Generate without Airflow, under Apache-2.0")
    # The project drifted from the template: a file rewritten, one deleted.
    (project / "Makefile").write_text("all:\n\techo drifted\n")
    (project / "LICENSE").unlink()
    commit_all(project, "Drift")

    # No data: every answer comes from the answers file. The ref is explicit, as without
    # it copier recopies from the newest tag.
    copier.run_recopy(
        project, vcs_ref="HEAD", defaults=True, overwrite=True, unsafe=False, quiet=True
    )

    recorded = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert {name: recorded[name] for name in answers} == answers
    fresh = copier_copy(template, tmp_path / "fresh", "HEAD", **answers)
    assert tree_diff(tree(project), tree(fresh)) == []
    assert "Apache License" in (project / "LICENSE").read_text()
    assert not (project / "airflow").exists()
