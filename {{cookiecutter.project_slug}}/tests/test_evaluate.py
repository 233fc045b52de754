"""The evaluate step writes DVC metrics and plots, then enforces the thresholds."""

from __future__ import annotations

import json
from pathlib import Path
{%- if cookiecutter.problem_type == "regression" %}

import numpy as np
{%- else %}
{% endif %}
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import evaluate
from {{ cookiecutter.package_name }}.config import ProjectConfig, Thresholds
from {{ cookiecutter.package_name }}.data import fetch, prepare
from {{ cookiecutter.package_name }}.errors import ThresholdError
from {{ cookiecutter.package_name }}.model_io import save_model


@pytest.fixture
def evaluated_project(project_dir: Path, config: ProjectConfig, fitted_pipeline) -> Path:
    fetch(config)
    prepare(config)
    save_model(fitted_pipeline, Path(config.artifacts.model_path))
    return project_dir
{%- if cookiecutter.problem_type == "classification" %}


def test_run_writes_metrics_and_plots(evaluated_project: Path, config: ProjectConfig) -> None:
    metrics = evaluate.run(config)
    written = json.loads((evaluated_project / "metrics" / evaluate.METRICS_FILE).read_text())
    assert written == pytest.approx(metrics)
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert all(0.0 <= value <= 1.0 for value in metrics.values())

    roc = pd.read_csv(evaluated_project / "plots" / evaluate.ROC_FILE)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
    assert (roc.iloc[0]["fpr"], roc.iloc[-1]["tpr"]) == (0.0, 1.0)

    confusion = pd.read_csv(evaluated_project / "plots" / evaluate.CONFUSION_FILE)
    test_rows = len(pd.read_csv(evaluated_project / config.data.processed_dir / "test.csv"))
    assert list(confusion.columns) == ["actual", "predicted"]
    assert len(confusion) == test_rows
    assert (confusion["actual"] == confusion["predicted"]).mean() == pytest.approx(
        metrics["accuracy"]
    )


def test_gate_fails_after_writing_metrics(evaluated_project: Path, config: ProjectConfig) -> None:
    strict = config.evaluation.model_copy(update={"thresholds": Thresholds(accuracy=1.0)})
    with pytest.raises(ThresholdError, match=r"evaluation\.thresholds\.accuracy: 0\.\d+ is below"):
        evaluate.run(config.model_copy(update={"evaluation": strict}))
    assert (evaluated_project / "metrics" / evaluate.METRICS_FILE).is_file()


def test_gate_names_every_failing_metric() -> None:
    metrics = {"accuracy": 0.8, "precision": 0.9, "recall": 0.9, "f1": 0.9, "roc_auc": 0.85}
    with pytest.raises(ThresholdError) as error:
        evaluate.check_thresholds(metrics, Thresholds(accuracy=0.9, roc_auc=0.9, f1=0.5))
    assert "thresholds.accuracy: 0.8000" in str(error.value)
    assert "thresholds.roc_auc: 0.8500" in str(error.value)
    assert "f1" not in str(error.value)


def test_gate_passes_at_the_threshold() -> None:
    evaluate.check_thresholds({"accuracy": 0.9}, Thresholds(accuracy=0.9))
{%- else %}


def test_run_writes_metrics_and_plots(evaluated_project: Path, config: ProjectConfig) -> None:
    metrics = evaluate.run(config)
    written = json.loads((evaluated_project / "metrics" / evaluate.METRICS_FILE).read_text())
    assert written == pytest.approx(metrics)
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert 0.0 < metrics["mae"] <= metrics["rmse"]
    assert metrics["r2"] <= 1.0

    predictions = pd.read_csv(evaluated_project / "plots" / evaluate.PREDICTIONS_FILE)
    test_rows = len(pd.read_csv(evaluated_project / config.data.processed_dir / "test.csv"))
    assert list(predictions.columns) == ["actual", "predicted"]
    assert len(predictions) == test_rows
    errors = predictions["actual"] - predictions["predicted"]
    assert np.sqrt((errors**2).mean()) == pytest.approx(metrics["rmse"])

    residuals = pd.read_csv(evaluated_project / "plots" / evaluate.RESIDUALS_FILE)
    assert list(residuals.columns) == ["predicted", "residual"]
    np.testing.assert_allclose(residuals["predicted"], predictions["predicted"])
    np.testing.assert_allclose(residuals["residual"], errors)


def test_gate_fails_after_writing_metrics(evaluated_project: Path, config: ProjectConfig) -> None:
    strict = config.evaluation.model_copy(update={"thresholds": Thresholds(rmse=1.0)})
    with pytest.raises(
        ThresholdError, match=r"evaluation\.thresholds\.rmse: \d+\.\d+ is above the maximum 1\.0"
    ):
        evaluate.run(config.model_copy(update={"evaluation": strict}))
    assert (evaluated_project / "metrics" / evaluate.METRICS_FILE).is_file()


def test_gate_names_every_failing_metric() -> None:
    """Errors fail above their maximum, r2 below its minimum; passing metrics go unnamed."""
    metrics = {"rmse": 70.0, "mae": 45.0, "r2": 0.2}
    with pytest.raises(ThresholdError) as error:
        evaluate.check_thresholds(metrics, Thresholds(rmse=60.0, mae=50.0, r2=0.3))
    message = str(error.value)
    assert "evaluation.thresholds.rmse: 70.0000 is above the maximum 60.0" in message
    assert "evaluation.thresholds.r2: 0.2000 is below the minimum 0.3" in message
    assert "mae" not in message


def test_gate_passes_at_the_thresholds() -> None:
    evaluate.check_thresholds(
        {"rmse": 60.0, "mae": 50.0, "r2": 0.3}, Thresholds(rmse=60.0, mae=50.0, r2=0.3)
    )
{%- endif %}
