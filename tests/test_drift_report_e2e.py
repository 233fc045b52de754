"""End to end: a project with `drift_report=evidently`, its README quickstart run offline
(`git init`, `make install`, `make pipeline`, `make test`, the generated Evidently tests
among them), then `make drift` and the `drift` command on the pipeline's own data.

The project installs into conftest.py's `pandas_below_3_env` (shared with the Feast
project), not the venv the other e2e projects share: Evidently pins pandas below 3, and
installing it there would downgrade pandas for every project tested after it. The uv cache
is the shared one, so the install downloads nothing already fetched. The module prints how
long the quickstart and the drift check took.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from bake import render
from conftest import run, run_quickstart

pytestmark = pytest.mark.e2e

ANSWERS = {"project_name": "Evidently Drift", "drift_report": "evidently"}
SLUG, PACKAGE = "evidently-drift", "evidently_drift"
DRIFT_EXIT_CODE = 3
REPORTS = Path("reports") / "drift"


@pytest.fixture(scope="module")
def timings(request: pytest.FixtureRequest) -> Iterator[dict[str, float]]:
    """Seconds per step worth reporting; printed when the module ends, even under -q."""
    recorded: dict[str, float] = {}
    yield recorded
    capturing = request.config.pluginmanager.getplugin("capturemanager")
    with capturing.global_and_fixture_disabled():
        print("\nevidently project: " + ", ".join(f"{k} {v:.1f} s" for k, v in recorded.items()))


@pytest.fixture(scope="module")
def env(pandas_below_3_env: dict[str, str]) -> dict[str, str]:
    """The e2e settings with the venv for projects on pandas 2 (see above)."""
    return pandas_below_3_env


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], timings: dict[str, float]
) -> Path:
    project_dir = render("copier", tmp_path_factory.mktemp("evidently"), **ANSWERS)
    start = time.monotonic()
    run_quickstart(project_dir, env)
    timings["quickstart (install, pipeline, tests)"] = time.monotonic() - start
    return project_dir


def cli(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The project's command, from its virtualenv; the caller checks the exit status."""
    return subprocess.run(
        [str(Path(env["VENV"]) / "bin" / SLUG), *args], cwd=project, env=env,
        capture_output=True, text=True, check=False,
    )


def evidently_findings(project: Path) -> tuple[str, list[str]]:
    """From evidently.json: the dataset drift test's status and the columns whose drift
    test failed."""
    payload = json.loads((project / REPORTS / "evidently.json").read_text())
    dataset_status, failed = "", []
    for test in payload["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith("DriftedColumnsCount"):
            dataset_status = test["status"]
        elif params["type"].endswith("ValueDrift") and test["status"] == "FAIL":
            failed.append(params["column"])
    return dataset_status, failed


def test_make_drift_writes_both_reports(
    project: Path, env: dict[str, str], timings: dict[str, float]
) -> None:
    """`make drift` on the test split: no drift, Evidently's report beside the built-in
    one, and a page that loads nothing from the network."""
    start = time.monotonic()
    run("make drift", project, env)
    timings["make drift"] = time.monotonic() - start
    written = {path.name for path in (project / REPORTS).iterdir()}
    assert {"drift.json", "drift.html", "evidently.json", "evidently.html"} <= written
    assert evidently_findings(project) == ("SUCCESS", [])
    page = (project / REPORTS / "evidently.html").read_text()
    assert re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=\"?https?:", page) is None


def test_shifted_feature_exits_3_and_is_named(project: Path, env: dict[str, str]) -> None:
    processed = project / "data" / "processed"
    schema = json.loads((processed / "schema.json").read_text())
    feature = next(f["name"] for f in schema["features"] if f["kind"] == "numeric")
    train, test = pd.read_csv(processed / "train.csv"), pd.read_csv(processed / "test.csv")
    test[feature] += 3 * train[feature].std()
    test.to_csv(project / "shifted.csv", index=False)
    result = cli(project, env, "drift", "shifted.csv")
    assert result.returncode == DRIFT_EXIT_CODE, result.stderr[-2000:]
    assert evidently_findings(project) == ("FAIL", [feature])
    summary = f"Evidently: drift in 1 of {len(schema['features'])} features: {feature};"
    assert summary in result.stderr


def test_service_and_pipeline_never_import_evidently(project: Path, env: dict[str, str]) -> None:
    """The service's live gauges keep the built-in statistics; Evidently loads only in
    the drift command, not with the CLI, a pipeline step or the service."""
    code = "\n".join([
        "import importlib, sys",
        f"from {PACKAGE}.cli import STEPS",
        f"from {PACKAGE}.serving import create_app",
        f"for module, _, _ in STEPS.values(): importlib.import_module('{PACKAGE}.' + module)",
        "print(sorted({name.split('.')[0] for name in sys.modules}))",
    ])
    result = subprocess.run(
        [str(Path(env["VENV"]) / "bin" / "python"), "-c", code], cwd=project, env=env,
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(json.loads(result.stdout.strip().replace("'", '"')))
    assert {"fastapi", "mlflow"} <= loaded  # the imports ran
    assert "evidently" not in loaded


def test_lint_is_clean(project: Path, env: dict[str, str]) -> None:
    run("make lint", project, env)
