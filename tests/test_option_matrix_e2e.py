"""End to end over the option matrix: a representative set of answers, each run for real.

The default answers run in test_generated_e2e.py and the service modules (both engines).
Each variant here renders a project, runs its README quickstart (install, `dvc repro`,
its tests), its linter, and checks the pipeline trained the model it was asked for. The
projects of test_own_data_e2e.py carry answers of the matrix too (each build serves both
modules: it is the slow part) and run the two checks of every answer set,
``assert_trained_the_chosen_model`` and ``assert_components_left_out_stay_out``. Together
with the defaults (classification, random forest, flake8, uv, every component) the sets
cover every model, linter and dependency manager, regression with every model, and every
component switched off, at least once; the fast tier (test_render.py, test_components.py,
test_tooling_options.py) renders every combination.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bake import render
from conftest import run, run_quickstart

pytestmark = pytest.mark.e2e

NO_COMPONENTS = {
    "include_docker": False, "include_k8s": False, "include_terraform": False,
    "include_airflow": False, "ci": "none",
}
# name -> (engine, answers). Distinct project names: every project installs into the one
# shared environment, so their packages and commands must not collide. Classification with
# gradient boosting and no components, logistic regression with ruff and pip, and
# regression with the default model run on a team's own data (test_own_data_e2e.py).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "regression-boosting-ruff": (
        "cookiecutter", {"project_name": "Boosted Progression", "problem_type": "regression",
                         "model": "gradient_boosting", "linter": "ruff"},
    ),
    "regression-linear-pip-no-components": (
        "cookiecutter", {"project_name": "Ridge Progression", "problem_type": "regression",
                         "model": "linear", "dependency_manager": "pip", **NO_COMPONENTS},
    ),
}
# Held-out metrics whose threshold is a maximum (errors); every other threshold is a minimum.
MAXIMA = {"rmse", "mae"}
# What the evaluate stage writes, by problem_type: the model's metrics (the baseline's too,
# prefixed `baseline_`, and the improvement), and the plots.
EVALUATION = {
    "classification": ({"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                        "average_precision"},
                       {"roc.csv", "confusion_matrix.csv"}),
    "regression": ({"rmse", "mae", "r2"}, {"predictions.csv", "residuals.csv"}),
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def variant(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_env: dict[str, str],
) -> tuple[Path, dict[str, Any]]:
    engine, answers = VARIANTS[request.param]
    project = render(engine, tmp_path_factory.mktemp(request.param), **answers)
    run_quickstart(project, shared_env)
    return project, answers


def test_lint_is_clean(variant: tuple[Path, dict[str, Any]], shared_env: dict[str, str]) -> None:
    project, _ = variant
    run("make lint", project, shared_env)


def test_pipeline_trained_the_chosen_model(variant: tuple[Path, dict[str, Any]]) -> None:
    assert_trained_the_chosen_model(*variant)


def assert_trained_the_chosen_model(project: Path, answers: dict[str, Any]) -> None:
    """The champion was trained with the algorithm and hyperparameters asked for, passes the
    config's thresholds in their direction, and was exported."""
    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    assert config["model"]["algorithm"] == answers.get("model", "random_forest")
    metrics = json.loads((project / "metrics" / "evaluate.json").read_text())
    for name, limit in config["evaluation"]["thresholds"].items():
        assert metrics[name] <= limit if name in MAXIMA else metrics[name] >= limit, name

    from mlflow import MlflowClient  # imported when used: e2e modules are collected always

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    name = config["mlflow"]["registered_model_name"]
    champion = client.get_model_version_by_alias(name, "champion")
    params = client.get_run(champion.run_id).data.params
    assert params["model.algorithm"] == config["model"]["algorithm"]
    for key, value in config["model"]["hyperparameters"].items():
        assert params[f"hyperparameters.{key}"] == str(value), key
    assert (project / "models" / "serving" / "model.onnx").is_file()


def test_pipeline_solved_the_chosen_problem(variant: tuple[Path, dict[str, Any]]) -> None:
    """Metrics, plots and the served schema are those of the problem type asked for."""
    project, answers = variant
    problem_type = answers.get("problem_type", "classification")
    metric_names, plot_files = EVALUATION[problem_type]
    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    metrics = json.loads((project / "metrics" / "evaluate.json").read_text())
    baseline = {f"baseline_{name}" for name in metric_names}
    assert set(metrics) == metric_names | baseline | {"improvement"}
    assert metrics["improvement"] >= config["evaluation"]["min_improvement"]
    assert {path.name for path in (project / "plots").iterdir()} == plot_files
    schema = json.loads((project / "models" / "serving" / "schema.json").read_text())
    assert ("classes" in schema) == (problem_type == "classification")
    expected_source = {"classification": "sklearn:breast_cancer", "regression": "sklearn:diabetes"}
    assert config["data"]["source"] == expected_source[problem_type]


def test_components_left_out_stay_out(variant: tuple[Path, dict[str, Any]]) -> None:
    assert_components_left_out_stay_out(*variant)


def assert_components_left_out_stay_out(project: Path, answers: dict[str, Any]) -> None:
    """What the pipeline run writes is the project's own: no component comes back."""
    owned = {
        "include_docker": "Dockerfile", "include_k8s": "k8s", "include_terraform": "terraform",
        "include_airflow": "airflow",
    }
    for question, path in owned.items():
        assert (project / path).exists() == answers.get(question, True), path
    assert (project / ".github").exists() == (answers.get("ci", "github") == "github")
