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
from sklearn.base import BaseEstimator
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline

from . import task
from .config import ProjectConfig
from .data import load_schema{% if cookiecutter.feature_store != "feast" %}, load_split{% endif %}
from .features import build_preprocessor
from .model_io import (
    ONNX_FILE,
    REFERENCE_FILE,
    REFERENCE_ROWS,
    SERVING_ARTIFACTS,
    TRUSTED_TYPES,
    save_model,
    to_onnx,
)
from .reports import write_json
from .schema import SCHEMA_FILE, DatasetSchema
from .task_config import LOWER_IS_BETTER

if TYPE_CHECKING:
    from .registry import Registration

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"


def build_estimator(config: ProjectConfig) -> BaseEstimator:
    """The configured model with its hyperparameters; the seed makes runs repeatable."""
    estimator = task.ESTIMATORS[config.model.algorithm]
    params = config.model.hyperparameters.model_dump()
    return estimator(**params, random_state=config.training.random_state)


def build_pipeline(config: ProjectConfig, schema: DatasetSchema) -> Pipeline:
    return Pipeline(
        [
            ("features", build_preprocessor(config.preprocessing, schema)),
            ("model", build_estimator(config)),
        ]
    )


def cross_validate_pipeline(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, schema: DatasetSchema,
    config: ProjectConfig,
) -> dict[str, float]:
    """Mean and spread of each metric over the task's folds of the training split
    (stratified by class for classification). Scorers are maximised, so scikit-learn
    reports errors negated: they are turned back, to read as evaluate reports them."""
    folds = task.cv_splitter(config.training.cv_folds, config.training.random_state)
    scorers = task.scoring(schema)
    scores = cross_validate(pipeline, features, target, cv=folds, scoring=scorers)
    summary = {}
    for name in scorers:
        values = scores[f"test_{name}"]
        if name in LOWER_IS_BETTER:
            values = -values
        summary[f"cv_{name}_mean"] = float(values.mean())
        summary[f"cv_{name}_std"] = float(values.std())
    return summary


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
{%- if cookiecutter.feature_store == "feast" %}
    from .feature_store import training_set  # Feast takes seconds to import: only here

    # The training set from the feature store, point in time; fails if it lost a row.
    features, target = training_set(config, schema)
{%- else %}
    features, target = load_split(config, "train")
{%- endif %}
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
