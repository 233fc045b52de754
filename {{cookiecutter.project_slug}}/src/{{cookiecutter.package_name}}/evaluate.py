"""Step ``evaluate``: held-out metrics, plot data for DVC, and the quality gate.

Metrics and plots are written before the gate runs, so a failed gate still leaves
the numbers behind to look at.
"""

from __future__ import annotations

import logging
from pathlib import Path
{%- if cookiecutter.problem_type == "classification" %}

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import label_binarize

from .config import ProjectConfig, Thresholds
{%- else %}

import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline

from .config import LOWER_IS_BETTER, ProjectConfig, Thresholds
{%- endif %}
from .data import load_split
from .errors import ThresholdError
from .model_io import load_model
from .reports import write_csv, write_json

log = logging.getLogger(__name__)

METRICS_FILE = "evaluate.json"
{%- if cookiecutter.problem_type == "classification" %}
ROC_FILE = "roc.csv"
CONFUSION_FILE = "confusion_matrix.csv"


def compute_metrics(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and ROC AUC; macro-averaged for multi-class."""
    predicted = model.predict(features)
    proba = model.predict_proba(features)
    classes = model.classes_
    if len(classes) == 2:
        averaging = {"average": "binary", "pos_label": classes[1]}
        roc_auc = roc_auc_score(target, proba[:, 1])
    else:
        averaging = {"average": "macro"}
        roc_auc = roc_auc_score(target, proba, multi_class="ovr", labels=classes)
    metrics = {
        "accuracy": accuracy_score(target, predicted),
        "precision": precision_score(target, predicted, zero_division=0, **averaging),
        "recall": recall_score(target, predicted, zero_division=0, **averaging),
        "f1": f1_score(target, predicted, zero_division=0, **averaging),
        "roc_auc": roc_auc,
    }
    return {name: float(value) for name, value in metrics.items()}


def roc_points(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """ROC curve of the positive class; micro-averaged one-vs-rest for multi-class."""
    proba = model.predict_proba(features)
    classes = model.classes_
    if len(classes) == 2:
        fpr, tpr, thresholds = roc_curve(target, proba[:, 1], pos_label=classes[1])
    else:
        truth = label_binarize(target, classes=classes)
        fpr, tpr, thresholds = roc_curve(truth.ravel(), proba.ravel())
    thresholds = np.minimum(thresholds, 1.0)  # roc_curve starts at +inf
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def confusion_rows(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """One row per prediction, the shape DVC's confusion-matrix template expects."""
    return pd.DataFrame({"actual": target.to_numpy(), "predicted": model.predict(features)})


def check_thresholds(metrics: dict[str, float], thresholds: Thresholds) -> None:
    """Raise ``ThresholdError`` naming every metric below its configured minimum."""
    failures = [
        f"evaluation.thresholds.{name}: {metrics[name]:.4f} is below the minimum {minimum}"
        for name, minimum in thresholds.model_dump().items()
        if minimum is not None and metrics[name] < minimum
    ]
    if failures:
        raise ThresholdError("; ".join(failures))
{%- else %}
PREDICTIONS_FILE = "predictions.csv"
RESIDUALS_FILE = "residuals.csv"


def compute_metrics(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    """RMSE and MAE (in the target's unit, lower is better) and R2 (1.0 is a perfect fit)."""
    predicted = model.predict(features)
    metrics = {
        "rmse": root_mean_squared_error(target, predicted),
        "mae": mean_absolute_error(target, predicted),
        "r2": r2_score(target, predicted),
    }
    return {name: float(value) for name, value in metrics.items()}


def prediction_rows(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """One row per held-out record, for the predicted-vs-actual scatter plot."""
    return pd.DataFrame({"actual": target.to_numpy(), "predicted": model.predict(features)})


def residual_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """Residual (actual - predicted) against the prediction: any trend in it is a bias."""
    residual = predictions["actual"] - predictions["predicted"]
    return pd.DataFrame({"predicted": predictions["predicted"], "residual": residual})


def check_thresholds(metrics: dict[str, float], thresholds: Thresholds) -> None:
    """Raise ``ThresholdError`` naming every metric on the wrong side of its threshold.

    rmse and mae are errors, so their thresholds are maxima; r2's is a minimum.
    """
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
    if failures:
        raise ThresholdError("; ".join(failures))
{%- endif %}


def run(config: ProjectConfig) -> dict[str, float]:
    """Step ``evaluate``: write metrics and plots for the held-out split, then gate."""
    model = load_model(Path(config.artifacts.model_path))
    features, target = load_split(config, "test")
    metrics = compute_metrics(model, features, target)
    write_json(Path(config.artifacts.metrics_dir) / METRICS_FILE, metrics)
    plots = Path(config.artifacts.plots_dir)
{%- if cookiecutter.problem_type == "classification" %}
    write_csv(plots / ROC_FILE, roc_points(model, features, target))
    write_csv(plots / CONFUSION_FILE, confusion_rows(model, features, target))
{%- else %}
    predictions = prediction_rows(model, features, target)
    write_csv(plots / PREDICTIONS_FILE, predictions)
    write_csv(plots / RESIDUALS_FILE, residual_rows(predictions))
{%- endif %}
    log.info("held-out metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    check_thresholds(metrics, config.evaluation.thresholds)
    return metrics
