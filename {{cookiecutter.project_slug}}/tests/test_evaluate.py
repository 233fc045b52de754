"""The evaluate step writes DVC metrics and plots beside a baseline's, then gates."""

from __future__ import annotations

import json
from pathlib import Path

{%- if cookiecutter.problem_type == "regression" %}
import numpy as np
{%- endif %}
import pandas as pd
import pytest
{%- if cookiecutter.problem_type == "classification" %}
from sklearn.metrics import auc
{%- endif %}

from {{ cookiecutter.package_name }} import evaluate
from {{ cookiecutter.package_name }}.config import EvaluationSection, ProjectConfig
from {{ cookiecutter.package_name }}.data import fetch, prepare
from {{ cookiecutter.package_name }}.errors import ThresholdError
from {{ cookiecutter.package_name }}.model_io import save_model

from conftest import override


@pytest.fixture
def evaluated_project(project_dir: Path, config: ProjectConfig, fitted_pipeline) -> Path:
    fetch(config)
    prepare(config)
    save_model(fitted_pipeline, Path(config.artifacts.model_path))
    return project_dir


def written_metrics(project: Path) -> dict[str, float]:
    return json.loads((project / "metrics" / evaluate.METRICS_FILE).read_text())


def test_run_writes_metrics_beside_the_baselines(
    evaluated_project: Path, config: ProjectConfig
) -> None:
    metrics = evaluate.run(config)
    written = written_metrics(evaluated_project)
    baseline = {
        name.removeprefix(evaluate.BASELINE_PREFIX): value
        for name, value in written.items()
        if name.startswith(evaluate.BASELINE_PREFIX)
    }
    assert set(baseline) == set(metrics)
    assert {name: written[name] for name in metrics} == pytest.approx(metrics)
    metric = config.evaluation.primary_metric
    expected = evaluate.improvement(metric, metrics[metric], baseline[metric])
    assert written["improvement"] == pytest.approx(expected)
    assert written["improvement"] >= config.evaluation.min_improvement
{%- if cookiecutter.problem_type == "classification" %}
    assert baseline["roc_auc"] == pytest.approx(0.5)  # the baseline ignores the features
    schema_file = evaluated_project / config.data.processed_dir / "schema.json"
    classes = json.loads(schema_file.read_text())
    # always the majority class: recall 1 for it, 0 for every other
    assert baseline["balanced_accuracy"] == pytest.approx(1 / len(classes["classes"]))
{%- else %}
    assert baseline["r2"] <= 0.05  # the training mean explains (almost) nothing
    assert baseline["rmse"] > metrics["rmse"]
{%- endif %}
{%- if cookiecutter.problem_type == "classification" %}


def test_metrics_and_plots_agree(evaluated_project: Path, config: ProjectConfig) -> None:
    metrics = evaluate.run(config)
    names = {
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
        "average_precision",
    }
    assert set(metrics) == names
    assert all(0.0 <= value <= 1.0 for value in metrics.values())

    roc = pd.read_csv(evaluated_project / "plots" / evaluate.ROC_FILE)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
    assert (roc.iloc[0]["fpr"], roc.iloc[-1]["tpr"]) == (0.0, 1.0)
    schema_file = evaluated_project / config.data.processed_dir / "schema.json"
    schema = json.loads(schema_file.read_text())
    if schema.get("positive_class") is not None:  # the curve is the positive class's
        assert auc(roc["fpr"], roc["tpr"]) == pytest.approx(metrics["roc_auc"])

    confusion = pd.read_csv(evaluated_project / "plots" / evaluate.CONFUSION_FILE)
    test_rows = len(pd.read_csv(evaluated_project / config.data.processed_dir / "test.csv"))
    assert list(confusion.columns) == ["actual", "predicted"]
    assert len(confusion) == test_rows
    assert (confusion["actual"] == confusion["predicted"]).mean() == pytest.approx(
        metrics["accuracy"]
    )


def test_binary_metrics_follow_the_positive_class(fitted_pipeline, held_out, schema) -> None:
    """Precision of one class is not that of the other: the schema says which counts."""
    if schema.positive_class is None:
        pytest.skip("multi-class target: metrics are macro averages, no positive class")
    other = next(label for label in schema.classes if label != schema.positive_class)
    flipped = schema.model_copy(update={"positive_class": other})
    ours = evaluate.compute_metrics(fitted_pipeline, *held_out, schema)
    theirs = evaluate.compute_metrics(fitted_pipeline, *held_out, flipped)
    features, target = held_out
    predicted = fitted_pipeline.predict(features)
    hits = predicted[target.to_numpy() == schema.positive_class] == schema.positive_class
    assert ours["recall"] == pytest.approx(hits.mean())
    assert ours["roc_auc"] == pytest.approx(theirs["roc_auc"])  # symmetric
    assert ours["accuracy"] == theirs["accuracy"]
{%- else %}


def test_metrics_and_plots_agree(evaluated_project: Path, config: ProjectConfig) -> None:
    metrics = evaluate.run(config)
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
{%- endif %}


def test_gate_fails_after_writing_metrics(evaluated_project: Path, config: ProjectConfig) -> None:
    unreachable = override(config, evaluation={"min_improvement": 1.0})
    refused = r"evaluation\.min_improvement: \w+ -?\d+\.\d+ against the baseline's"
    with pytest.raises(ThresholdError, match=refused):
        evaluate.run(unreachable)
    assert (evaluated_project / "metrics" / evaluate.METRICS_FILE).is_file()


@pytest.mark.parametrize(
    ("metric", "score", "baseline", "expected"),
    [
        ("roc_auc", 0.75, 0.5, 0.5),   # half the way from 0.5 to 1.0
        ("accuracy", 0.97, 0.967, 0.0909),  # a 3%-positive target: barely better than always "no"
        ("accuracy", 0.9, 0.9, 0.0),
        ("r2", -0.2, 0.0, -0.2),        # worse than the baseline
        ("rmse", 30.0, 60.0, 0.5),      # half the baseline's error removed
        ("mae", 90.0, 60.0, -0.5),
        ("accuracy", 1.0, 1.0, 0.0),    # a perfect baseline leaves nothing to gain
    ],
)
def test_improvement_is_a_skill_score(metric, score, baseline, expected) -> None:
    assert evaluate.improvement(metric, score, baseline) == pytest.approx(expected, abs=1e-4)


def gate(**settings) -> EvaluationSection:
    return EvaluationSection.model_validate(settings)
{%- if cookiecutter.problem_type == "classification" %}


def test_gate_names_every_failing_rule() -> None:
    metrics = {"accuracy": 0.8, "recall": 0.9, "f1": 0.9, "roc_auc": 0.55}
    baseline = {"accuracy": 0.7, "recall": 0.0, "f1": 0.0, "roc_auc": 0.5}
    rules = gate(min_improvement=0.2, thresholds={"accuracy": 0.9, "f1": 0.5})
    with pytest.raises(ThresholdError) as error:
        evaluate.check_gate(metrics, baseline, rules)
    assert str(error.value) == (
        "evaluation.min_improvement: roc_auc 0.5500 against the baseline's 0.5000 improves by "
        "0.1000, below 0.2; evaluation.thresholds.accuracy: 0.8000 is below the minimum 0.9"
    )


def test_gate_passes_at_the_limits() -> None:
    metrics, baseline = {"roc_auc": 0.55, "accuracy": 0.9}, {"roc_auc": 0.5, "accuracy": 0.6}
    evaluate.check_gate(metrics, baseline, gate(min_improvement=0.1, thresholds={"accuracy": 0.9}))


def test_default_gate_refuses_the_majority_guess_on_skewed_data() -> None:
    """Always "no" on a 3%-positive target: 0.97 accuracy, and no skill."""
    metrics = {"accuracy": 0.97}
    with pytest.raises(ThresholdError, match="improves by 0.0000"):
        evaluate.check_gate(metrics, metrics, gate(primary_metric="accuracy"))
{%- else %}


def test_gate_names_every_failing_rule() -> None:
    """Errors fail above their maximum, r2 below its minimum; passing metrics go unnamed."""
    metrics = {"rmse": 70.0, "mae": 45.0, "r2": 0.2}
    baseline = {"rmse": 75.0, "mae": 60.0, "r2": 0.0}
    rules = gate(thresholds={"rmse": 60.0, "mae": 50.0, "r2": 0.3})
    with pytest.raises(ThresholdError) as error:
        evaluate.check_gate(metrics, baseline, rules)
    message = str(error.value)
    assert message.startswith(
        "evaluation.min_improvement: rmse 70.0000 against the baseline's 75.0000 improves by 0.0667"
    )
    assert "evaluation.thresholds.rmse: 70.0000 is above the maximum 60.0" in message
    assert "evaluation.thresholds.r2: 0.2000 is below the minimum 0.3" in message
    assert "thresholds.mae" not in message


def test_gate_passes_at_the_limits() -> None:
    metrics = {"rmse": 50.0, "mae": 50.0, "r2": 0.3}
    baseline = {"rmse": 60.0, "mae": 60.0, "r2": 0.0}
    evaluate.check_gate(metrics, baseline, gate(thresholds={"rmse": 60.0, "mae": 50.0, "r2": 0.3}))
{%- endif %}
