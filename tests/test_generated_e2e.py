"""End to end: render the default project, then use it as its README says.

Every generated project installs into one shared environment per test run (its own
``make install`` with ``VENV`` pointing there): the first install fills it, later ones
find everything in place. Nothing here needs the network beyond the package index.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from conftest import run

if TYPE_CHECKING:
    from mlflow import MlflowClient

pytestmark = pytest.mark.e2e

CONFIG = "config/model_config.yaml"
# A deliberately weaker model (a single stump) that still beats the feature-blind baseline,
# so it passes the default gate and the promote stage really runs and has to decide.
WORSE_MODEL = {
    "model.hyperparameters.n_estimators": 1,
    "model.hyperparameters.max_depth": 1,
}


@pytest.fixture(scope="module")
def client(project: Path) -> MlflowClient:
    from mlflow import MlflowClient  # imported when used: e2e modules are collected always

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def config_of(project: Path) -> dict:
    return yaml.safe_load((project / CONFIG).read_text())


def test_lint_is_clean(project: Path, shared_env: dict[str, str]) -> None:
    run("make lint", project, shared_env)


def test_pre_commit_hooks_pass_offline(project: Path, shared_env: dict[str, str]) -> None:
    run("git add -A", project, shared_env)
    run(f"{shared_env['VENV']}/bin/pre-commit run --all-files", project, shared_env)


def test_pipeline_is_up_to_date_after_repro(project: Path, shared_env: dict[str, str]) -> None:
    status = run("dvc status", project, shared_env).stdout
    assert "Data and pipelines are up to date" in status
    for gitignore in ("data/raw/.gitignore", "data/processed/.gitignore", "models/.gitignore"):
        assert (project / gitignore).is_file(), f"DVC did not write {gitignore}"


def stale_stages(project: Path, env: dict[str, str]) -> set[str]:
    """The stages `dvc status` reports as changed (its JSON output)."""
    return set(json.loads(run("dvc status --json", project, env).stdout))


def test_dvc_sees_changes_to_code_and_source_files(
    project: Path, shared_env: dict[str, str]
) -> None:
    """Every stage depends on the package it runs, the data stage on data/external/: an
    edited helper module or source file makes `dvc status` report the stages stale."""
    package = next((project / "src").iterdir())
    module = package / "schema.py"  # imported by every stage, named in no stage's cmd
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    try:
        assert stale_stages(project, shared_env) == {
            "data", "prepare", "train", "evaluate", "promote", "export",
        }
    finally:
        module.write_text(original)
    source = project / "data" / "external" / "customers.csv"
    source.write_text("a,b\n1,2\n")
    try:
        assert stale_stages(project, shared_env) == {"data"}
    finally:
        source.unlink()
    assert stale_stages(project, shared_env) == set()


# A pytest plugin for the generated suite: at the end of the session, the process that is
# not an xdist worker (the controller, or the one process) writes which of the heavy
# libraries it imported.
LIBRARY_PROBE = """
import json, os, sys

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        loaded = [name for name in ("sklearn", "pandas", "mlflow", "fastapi")
                  if name in sys.modules]
        with open(os.environ["PROBE_OUT"], "w") as out:
            json.dump(loaded, out)
"""


@pytest.mark.parametrize(("workers", "imported"), [
    ("1", []), ("0", ["sklearn", "pandas", "fastapi"]),
])
def test_make_test_controller_imports_no_ml_library(
    project: Path, shared_env: dict[str, str], tmp_path: Path, workers: str, imported: list[str]
) -> None:
    """`make test` on xdist's workers: the controller, which runs no test, never imports
    the fixtures and the ML stack behind them; one process (TEST_WORKERS=0) loads them."""
    (tmp_path / "library_probe.py").write_text(LIBRARY_PROBE)
    env = {
        **shared_env, "PYTHONPATH": str(tmp_path), "PROBE_OUT": str(tmp_path / "loaded.json"),
        "PYTEST_ADDOPTS": "-p library_probe tests/test_config.py",
    }
    output = run(f"make test TEST_WORKERS={workers}", project, env).stdout
    assert " passed" in output and " failed" not in output
    assert json.loads((tmp_path / "loaded.json").read_text()) == imported


def test_metrics_pass_the_gate_against_the_baseline(project: Path) -> None:
    """The default gate: the model beats the feature-blind baseline by min_improvement."""
    evaluation = config_of(project)["evaluation"]
    metrics = json.loads((project / "metrics" / "evaluate.json").read_text())
    primary = evaluation["primary_metric"]
    baseline = metrics[f"baseline_{primary}"]
    assert baseline == pytest.approx(0.5)  # the roc_auc of predicting class shares
    skill = (metrics[primary] - baseline) / (1 - baseline)
    assert metrics["improvement"] == pytest.approx(skill)
    assert metrics["improvement"] >= evaluation["min_improvement"]
    for name, minimum in evaluation["thresholds"].items():
        assert metrics[name] >= minimum, name
    cv = json.loads((project / "metrics" / "train.json").read_text())
    assert 0.5 < cv["cv_roc_auc_mean"] <= 1.0
    data = json.loads((project / "metrics" / "data.json").read_text())
    assert data["positive_class"] == 0  # breast cancer: malignant (0) is the minority
    assert data["rows_train"] + data["rows_test"] == data["rows_raw"] == 569


def test_run_is_logged_with_params_and_metrics(project: Path, client: MlflowClient) -> None:
    config = config_of(project)
    experiment = client.get_experiment_by_name(config["mlflow"]["experiment_name"])
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run_data = runs[0].data
    assert run_data.params["model.algorithm"] == config["model"]["algorithm"]
    for key, value in config["model"]["hyperparameters"].items():
        assert run_data.params[f"hyperparameters.{key}"] == str(value), key
    for metric in ("cv_accuracy_mean", "cv_roc_auc_mean", "test_accuracy", "test_roc_auc"):
        assert 0.0 < run_data.metrics[metric] <= 1.0, metric


def test_champion_is_the_registered_version(project: Path, client: MlflowClient) -> None:
    name = config_of(project)["mlflow"]["registered_model_name"]
    versions = client.search_model_versions(f"name='{name}'")
    assert [str(v.version) for v in versions] == ["1"]
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == "1"
    assert champion.run_id == versions[0].run_id


def test_worse_experiment_does_not_move_the_champion(
    project: Path, client: MlflowClient, shared_env: dict[str, str]
) -> None:
    """``dvc exp run -S`` with a weaker model: registered as challenger, never champion."""
    run("git add -A && git commit --quiet -m 'first pipeline run'", project, shared_env)
    overrides = " ".join(
        f"-S {shlex.quote(f'{CONFIG}:{key}={value}')}" for key, value in WORSE_MODEL.items()
    )
    run(f"dvc exp run {overrides}", project, shared_env)

    promotion = json.loads((project / "metrics" / "promotion.json").read_text())
    assert promotion["promoted"] is False
    assert promotion["challenger_version"] == "2"
    assert promotion["challenger_score"] < promotion["previous_champion_score"]
    assert promotion["reason"] == "does not beat the champion"
    name = config_of(project)["mlflow"]["registered_model_name"]
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    run_params = client.get_run(client.get_model_version(name, "2").run_id).data.params
    assert run_params["hyperparameters.n_estimators"] == "1"
