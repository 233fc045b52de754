"""Fast tier: bandit finds no medium or high severity issue in the generated package.

`bandit -r src -ll` is what a user would run in the generated project; it exits non-zero
on any finding. The JSON report is parsed so a failure names each finding and its line.
The harness is shown able to fail on a copy with a planted `shell=True` call.
"""

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bake import ENGINES, TOOLS, render

# `-ll`: report medium and high severity only; `-q`: no banner on stderr.
BANDIT_ARGS = ["-r", "src", "-ll", "-q", "-f", "json"]
PLANTED = '''

def run_anything(command: str) -> int:
    import subprocess

    return subprocess.run(command, shell=True).returncode
'''


def bandit(project: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Exit status, findings and stderr of bandit over the project's `src` folder."""
    executable = TOOLS / "bandit"
    assert executable.is_file(), "bandit is missing: `make venv` installs the dev dependencies"
    result = subprocess.run(
        [str(executable), *BANDIT_ARGS],
        cwd=project, capture_output=True, text=True, check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bandit wrote no JSON report (exit {result.returncode}):\n{result.stderr}")
    assert not report.get("errors"), f"bandit could not scan some files: {report['errors']}"
    return result.returncode, report["results"], result.stderr


def describe(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{item['filename']}:{item['line_number']}: {item['test_id']} "
        f"({item['issue_severity']} severity, {item['issue_confidence']} confidence) "
        f"{item['issue_text']}\n{textwrap.indent(item['code'].rstrip(), '    ')}"
        for item in findings
    )


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {engine: render(engine, tmp_path_factory.mktemp(engine)) for engine in ENGINES}


@pytest.mark.parametrize("engine", ENGINES)
def test_bandit_finds_nothing_of_medium_or_high_severity(
    projects: dict[str, Path], engine: str
) -> None:
    status, findings, stderr = bandit(projects[engine])
    if findings:
        pytest.fail(f"bandit {' '.join(BANDIT_ARGS)} found:\n{describe(findings)}", pytrace=False)
    assert status == 0, f"bandit exited {status} without findings:\n{stderr}"


def test_bandit_catches_a_planted_shell_call(projects: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "project"
    shutil.copytree(projects[ENGINES[0]] / "src", broken / "src")
    cli = next((broken / "src").glob("*/cli.py"))
    cli.write_text(cli.read_text() + PLANTED)
    status, findings, _ = bandit(broken)
    assert status != 0
    assert "B602" in {item["test_id"] for item in findings}, describe(findings)
