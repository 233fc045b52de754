"""Step ``evaluate``: held-out metrics beside a baseline's, plot data for DVC, the gate.

The baseline ignores the features ({{ "it predicts the training split's class shares" if cookiecutter.problem_type == "classification" else "it predicts the training split's mean" }}), so the
default gate, "beat it by ``evaluation.min_improvement``", fits any dataset without
tuning. Metrics and plots are written before the gate runs, so a failed gate still
leaves the numbers behind to look at.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
{%- if cookiecutter.problem_type == "classification" %}

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.preprocessing import label_binarize
{%- else %}

import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
{%- endif %}

from .config import LOWER_IS_BETTER, EvaluationSection, ProjectConfig, Thresholds
from .data import load_schema, load_split
from .errors import ThresholdError
from .model_io import load_model
from .reports import write_csv, write_json
from .schema import DatasetSchema

log = logging.getLogger(__name__)

METRICS_FILE = "evaluate.json"
BASELINE_PREFIX = "baseline_"
{%- if cookiecutter.problem_type == "classification" %}
ROC_FILE = "roc.csv"
CONFUSION_FILE = "confusion_matrix.csv"


def fit_baseline(features: pd.DataFrame, target: pd.Series) -> DummyClassifier:
    """Predicts the majority class, with the training split's class shares as probabilities."""
    return DummyClassifier(strategy="prior").fit(features, target)


def compute_metrics(
    model: Any, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema
) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall, F1, ROC AUC and average precision
    (PR AUC): of ``schema.positive_class`` for a binary target, macro-averaged otherwise."""
    predicted = model.predict(features)
    proba = model.predict_proba(features)
    classes = list(model.classes_)
    positive = schema.positive_class
    if positive is not None:
        averaging: dict[str, Any] = {"average": "binary", "pos_label": positive}
        scores = proba[:, classes.index(positive)]
        truth = target == positive
        roc_auc = roc_auc_score(truth, scores)
        average_precision = average_precision_score(truth, scores)
    else:
        averaging = {"average": "macro"}
        roc_auc = roc_auc_score(target, proba, multi_class="ovr", labels=classes)
        average_precision = average_precision_score(
            label_binarize(target, classes=classes), proba, average="macro"
        )
    metrics = {
        "accuracy": accuracy_score(target, predicted),
        "balanced_accuracy": balanced_accuracy_score(target, predicted),
        "precision": precision_score(target, predicted, zero_division=0, **averaging),
        "recall": recall_score(target, predicted, zero_division=0, **averaging),
        "f1": f1_score(target, predicted, zero_division=0, **averaging),
        "roc_auc": roc_auc,
        "average_precision": average_precision,
    }
    return {name: float(value) for name, value in metrics.items()}


def roc_points(
    model: Any, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema
) -> pd.DataFrame:
    """ROC curve of the positive class; micro-averaged one-vs-rest for multi-class."""
    proba = model.predict_proba(features)
    classes = list(model.classes_)
    if schema.positive_class is not None:
        column = proba[:, classes.index(schema.positive_class)]
        fpr, tpr, thresholds = roc_curve(target == schema.positive_class, column)
    else:
        truth = label_binarize(target, classes=classes)
        fpr, tpr, thresholds = roc_curve(truth.ravel(), proba.ravel())
    thresholds = np.minimum(thresholds, 1.0)  # roc_curve starts at +inf
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def confusion_rows(model: Any, features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """One row per prediction, the shape DVC's confusion-matrix template expects."""
    return pd.DataFrame({"actual": target.to_numpy(), "predicted": model.predict(features)})


def write_plots(
    plots: Path, model: Any, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema
) -> None:
    write_csv(plots / ROC_FILE, roc_points(model, features, target, schema))
    write_csv(plots / CONFUSION_FILE, confusion_rows(model, features, target))
{%- else %}
PREDICTIONS_FILE = "predictions.csv"
RESIDUALS_FILE = "residuals.csv"


def fit_baseline(features: pd.DataFrame, target: pd.Series) -> DummyRegressor:
    """Predicts the training split's mean for every record."""
    return DummyRegressor(strategy="mean").fit(features, target)


def compute_metrics(
    model: Any, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema
) -> dict[str, float]:
    """RMSE and MAE (in the target's unit, lower is better) and R2 (1.0 is a perfect fit)."""
    predicted = model.predict(features)
    metrics = {
        "rmse": root_mean_squared_error(target, predicted),
        "mae": mean_absolute_error(target, predicted),
        "r2": r2_score(target, predicted),
    }
    return {name: float(value) for name, value in metrics.items()}


def prediction_rows(model: Any, features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """One row per held-out record, for the predicted-vs-actual scatter plot."""
    return pd.DataFrame({"actual": target.to_numpy(), "predicted": model.predict(features)})


def residual_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """Residual (actual - predicted) against the prediction: any trend in it is a bias."""
    residual = predictions["actual"] - predictions["predicted"]
    return pd.DataFrame({"predicted": predictions["predicted"], "residual": residual})


def write_plots(
    plots: Path, model: Any, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema
) -> None:
    predictions = prediction_rows(model, features, target)
    write_csv(plots / PREDICTIONS_FILE, predictions)
    write_csv(plots / RESIDUALS_FILE, residual_rows(predictions))
{%- endif %}


def improvement(metric: str, score: float, baseline: float) -> float:
    """Skill score: the share of the way from the baseline to a perfect score (0 for an
    error, 1 otherwise) that ``score`` goes. 0 matches the baseline, 1 is perfect, a
    negative value is worse than the baseline."""
    perfect = 0.0 if metric in LOWER_IS_BETTER else 1.0
    gap = perfect - baseline
    return 0.0 if gap == 0 else (score - baseline) / gap


def threshold_failures(metrics: dict[str, float], thresholds: Thresholds) -> list[str]:
    """Every metric on the wrong side of its optional threshold: errors (rmse, mae) above
    their maximum, scores below their minimum."""
    failures = []
    for name, limit in thresholds.model_dump().items():
        if limit is None:
            continue
        if name in LOWER_IS_BETTER and metrics[name] > limit:
            failures.append(
                f"evaluation.thresholds.{name}: {metrics[name]:.4f} is above the maximum {limit}"
            )
        elif name not in LOWER_IS_BETTER and metrics[name] < limit:
            failures.append(
                f"evaluation.thresholds.{name}: {metrics[name]:.4f} is below the minimum {limit}"
            )
    return failures


def check_gate(
    metrics: dict[str, float], baseline: dict[str, float], evaluation: EvaluationSection
) -> None:
    """Raise ``ThresholdError`` naming each failed rule: the improvement over the baseline
    on the primary metric, then every optional threshold."""
    failures = []
    metric = evaluation.primary_metric
    gained = improvement(metric, metrics[metric], baseline[metric])
    if gained < evaluation.min_improvement:
        failures.append(
            f"evaluation.min_improvement: {metric} {metrics[metric]:.4f} against the "
            f"baseline's {baseline[metric]:.4f} improves by {gained:.4f}, "
            f"below {evaluation.min_improvement}"
        )
    failures += threshold_failures(metrics, evaluation.thresholds)
    if failures:
        raise ThresholdError("; ".join(failures))


def run(config: ProjectConfig) -> dict[str, float]:
    """Step ``evaluate``: write the model's and the baseline's held-out metrics and the
    plots, then gate."""
    schema = load_schema(config)
    model = load_model(Path(config.artifacts.model_path))
    features, target = load_split(config, "test")
    metrics = compute_metrics(model, features, target, schema)
    baseline = compute_metrics(fit_baseline(*load_split(config, "train")), features, target, schema)
    metric = config.evaluation.primary_metric
    written = {
        **metrics,
        **{f"{BASELINE_PREFIX}{name}": value for name, value in baseline.items()},
        "improvement": improvement(metric, metrics[metric], baseline[metric]),
    }
    write_json(Path(config.artifacts.metrics_dir) / METRICS_FILE, written)
    write_plots(Path(config.artifacts.plots_dir), model, features, target, schema)
    log.info(
        "held-out metrics: %s (baseline %s %.4f)",
        ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), metric, baseline[metric],
    )
    check_gate(metrics, baseline, config.evaluation)
    return metrics
