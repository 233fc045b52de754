"""Step ``train``: cross-validate and fit the model pipeline, then track it in MLflow.

The fitted pipeline (preprocessing + model) is one object, so whatever loads it later
applies exactly the preprocessing it was trained with.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
{%- if cookiecutter.problem_type == "classification" %}
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, make_scorer
from sklearn.metrics import precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, cross_validate
{%- else %}
from sklearn.base import RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_validate
{%- endif %}
from sklearn.pipeline import Pipeline

from .config import ProjectConfig
from .data import load_schema, load_split
from .features import build_preprocessor
from .model_io import (
    ONNX_FILE,
    REFERENCE_FILE,
    REFERENCE_ROWS,
    SCHEMA_FILE,
    SERVING_ARTIFACTS,
    TRUSTED_TYPES,
    save_model,
    to_onnx,
)
from .reports import write_json
from .schema import DatasetSchema

if TYPE_CHECKING:
    from .registry import Registration

log = logging.getLogger(__name__)
{%- if cookiecutter.problem_type == "classification" %}

ESTIMATORS: dict[str, type[ClassifierMixin]] = {
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
    "linear": LogisticRegression,
}
{%- else %}

ESTIMATORS: dict[str, type[RegressorMixin]] = {
    "random_forest": RandomForestRegressor,
    "gradient_boosting": HistGradientBoostingRegressor,
    "linear": Ridge,
}
# Metric name -> scikit-learn scorer. Scorers are maximised, so the error metrics come
# negated ("neg_..."); cross-validation reports them positive, as evaluate does.
SCORING = {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2"}
{%- endif %}
MODEL_ARTIFACT = "model"


def build_estimator(config: ProjectConfig) -> {{ "ClassifierMixin" if cookiecutter.problem_type == "classification" else "RegressorMixin" }}:
    """The configured model with its hyperparameters; the seed makes runs repeatable."""
    estimator = ESTIMATORS[config.model.algorithm]
    params = config.model.hyperparameters.model_dump()
    return estimator(**params, random_state=config.training.random_state)


def build_pipeline(config: ProjectConfig, schema: DatasetSchema) -> Pipeline:
    return Pipeline(
        [
            ("features", build_preprocessor(config.preprocessing, schema)),
            ("model", build_estimator(config)),
        ]
    )
{%- if cookiecutter.problem_type == "classification" %}


def scoring(schema: DatasetSchema) -> dict[str, object]:
    """Metric name -> scikit-learn scorer, the metrics evaluate reports: those of the
    positive class for a binary target, macro averages otherwise."""
    positive = schema.positive_class
    if positive is None:
        return {
            "accuracy": "accuracy",
            "balanced_accuracy": "balanced_accuracy",
            "precision": "precision_macro",
            "recall": "recall_macro",
            "f1": "f1_macro",
            "roc_auc": "roc_auc_ovr",
            "average_precision": make_scorer(
                average_precision_score, response_method="predict_proba"
            ),
        }
    return {
        "accuracy": "accuracy",
        "balanced_accuracy": "balanced_accuracy",
        "precision": make_scorer(precision_score, pos_label=positive, zero_division=0),
        "recall": make_scorer(recall_score, pos_label=positive, zero_division=0),
        "f1": make_scorer(f1_score, pos_label=positive, zero_division=0),
        "roc_auc": "roc_auc",  # the same for either class of a binary target
        "average_precision": make_scorer(
            average_precision_score, response_method="predict_proba", pos_label=positive
        ),
    }


def cross_validate_pipeline(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema,
    config: ProjectConfig,
) -> dict[str, float]:
    """Mean and spread of each metric over stratified folds of the training split."""
    folds = StratifiedKFold(
        n_splits=config.training.cv_folds, shuffle=True, random_state=config.training.random_state
    )
    metrics = scoring(schema)
    scores = cross_validate(pipeline, features, target, cv=folds, scoring=metrics)
    summary = {}
    for name in metrics:
        values = scores[f"test_{name}"]
        summary[f"cv_{name}_mean"] = float(values.mean())
        summary[f"cv_{name}_std"] = float(values.std())
    return summary
{%- else %}


def cross_validate_pipeline(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema,
    config: ProjectConfig,
) -> dict[str, float]:
    """Mean and spread of each metric over shuffled folds of the training split."""
    folds = KFold(
        n_splits=config.training.cv_folds, shuffle=True, random_state=config.training.random_state
    )
    scores = cross_validate(pipeline, features, target, cv=folds, scoring=SCORING)
    metrics = {}
    for name, scorer in SCORING.items():
        values = scores[f"test_{name}"]
        if scorer.startswith("neg_"):
            values = -values
        metrics[f"cv_{name}_mean"] = float(values.mean())
        metrics[f"cv_{name}_std"] = float(values.std())
    return metrics
{%- endif %}


def flat_params(config: ProjectConfig) -> dict[str, object]:
    """The settings that shape the model, as MLflow params with dotted names."""
    params: dict[str, object] = {
        "model.algorithm": config.model.algorithm,
        "model.version": config.model.version,
    }
    sections = {
        "hyperparameters": config.model.hyperparameters.model_dump(),
        "preprocessing.numeric": config.preprocessing.numeric.model_dump(),
        "preprocessing.categorical": config.preprocessing.categorical.model_dump(),
        "training": config.training.model_dump(),
    }
    for prefix, values in sections.items():
        params.update({f"{prefix}.{key}": value for key, value in values.items()})
    return params


def serving_files(
    folder: Path, config: ProjectConfig, schema: DatasetSchema, features: pd.DataFrame
) -> Path:
    """What the service needs besides the model: ONNX twin, schema, drift reference."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config.artifacts.onnx_path, folder / ONNX_FILE)
    schema.save(folder / SCHEMA_FILE)
    rows = min(REFERENCE_ROWS, len(features))
    reference = features.sample(n=rows, random_state=config.training.random_state)
    reference.to_csv(folder / REFERENCE_FILE, index=False)
    return folder


def log_run(
    config: ProjectConfig,
    pipeline: Pipeline,
    schema: DatasetSchema,
    features: pd.DataFrame,
    metrics: dict[str, float],
) -> Registration:
    """Log params, metrics, the model (signature, input example) and serving files."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from .registry import Registration, connect, mark_challenger

    client = connect(config)
    mlflow.set_experiment(config.mlflow.experiment_name)
    example = features.head(5)
    with mlflow.start_run(run_name=f"{config.model.name}-{config.model.version}") as run:
        mlflow.log_params(flat_params(config))
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT,
            signature=infer_signature(example, pipeline.predict(example)),
            input_example=example,
            registered_model_name=config.mlflow.registered_model_name,
            # Listing requirements skips MLflow's slow import-tracing inference.
            pip_requirements=[
                *mlflow.sklearn.get_default_pip_requirements(),
                f"skops=={version('skops')}",
            ],
            skops_trusted_types=TRUSTED_TYPES,
        )
        with tempfile.TemporaryDirectory() as scratch:
            files = serving_files(Path(scratch), config, schema, features)
            mlflow.log_artifacts(str(files), artifact_path=SERVING_ARTIFACTS)
    registration = Registration(
        model_name=config.mlflow.registered_model_name,
        version=str(info.registered_model_version),
        run_id=run.info.run_id,
    )
    mark_challenger(client, registration)
    return registration


def run(config: ProjectConfig) -> Registration:
    """Step ``train``: CV metrics, fitted model file, MLflow run and registered version."""
    schema = load_schema(config)
    features, target = load_split(config, "train")
    pipeline = build_pipeline(config, schema)
    metrics = cross_validate_pipeline(pipeline, features, target, schema, config)
    pipeline.fit(features, target)
    save_model(pipeline, Path(config.artifacts.model_path))
    Path(config.artifacts.onnx_path).write_bytes(to_onnx(pipeline, schema))
    write_json(Path(config.artifacts.metrics_dir) / "train.json", metrics)
    registration = log_run(config, pipeline, schema, features, metrics)
    registration.save(Path(config.artifacts.registration_path))
    metric = config.evaluation.primary_metric
    log.info(
        "registered %s version %s as challenger (cv %s %.4f)",
        registration.model_name,
        registration.version,
        metric,
        metrics[f"cv_{metric}_mean"],
    )
    return registration
