"""Shared fixtures: the real config, the real (bundled) data, one fitted pipeline.

Nothing here needs the network or a tracking server: MLflow tests use a temporary
sqlite database, and file-writing steps run inside a temporary copy of the project.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.config import ProjectConfig, load_config
from {{ cookiecutter.package_name }}.data import infer_schema, load_source, split, to_features
from {{ cookiecutter.package_name }}.schema import DatasetSchema
from {{ cookiecutter.package_name }}.train import build_pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = PROJECT_ROOT / "config" / "model_config.yaml"

# Hyperparameters, per algorithm, for a model that trains in a moment and for a deliberately
# weak one (the registry must not promote it), whichever algorithm the config chooses.
QUICK_SETTINGS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 30},
    "gradient_boosting": {"max_iter": 30},
{%- if cookiecutter.problem_type == "classification" %}
    "linear": {"max_iter": 200},
{%- else %}
    "linear": {"alpha": 1.0},
{%- endif %}
}
WEAK_SETTINGS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 1, "max_depth": 1},
    "gradient_boosting": {"max_iter": 1, "max_depth": 1},
{%- if cookiecutter.problem_type == "classification" %}
    "linear": {"C": 1e-6},
{%- else %}
    "linear": {"alpha": 1e6},  # shrinks every coefficient to ~0: predicts about the mean
{%- endif %}
}
{%- if cookiecutter.problem_type == "classification" %}

# ONNX runs tree ensembles in float32: probabilities differ from scikit-learn's float64 by
# up to ~4e-5 for gradient boosting (about 1e-6 for random forests).
ONNX_TOLERANCE = 1e-4
{%- else %}

# ONNX computes in float32: predictions differ from scikit-learn's float64 ones by a few
# parts in ten million of their size. A relative tolerance (rtol), so any target scale works.
ONNX_TOLERANCE = 1e-5
{%- endif %}

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def override(config: ProjectConfig, **sections: dict[str, Any]) -> ProjectConfig:
    """A copy of ``config`` with some keys of some sections replaced (validated again)."""
    raw = config.model_dump()
    for section, values in sections.items():
        for key, value in values.items():
            target = raw[section]
            *parents, leaf = key.split(".")
            for parent in parents:
                target = target[parent]
            target[leaf] = value
    return ProjectConfig.model_validate(raw)


def hyperparameters(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"max_depth": 1}`` as override keys of the model section."""
    return {f"hyperparameters.{name}": value for name, value in settings.items()}


@pytest.fixture(scope="session")
def config() -> ProjectConfig:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def raw_frame(config: ProjectConfig) -> pd.DataFrame:
    return load_source(config.data.source, config.data.target)


@pytest.fixture(scope="session")
def schema(raw_frame: pd.DataFrame, config: ProjectConfig) -> DatasetSchema:
    return infer_schema(raw_frame, config.data.target)


@pytest.fixture(scope="session")
def splits(raw_frame: pd.DataFrame, config: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split(raw_frame, config)


@pytest.fixture(scope="session")
def held_out(splits, schema: DatasetSchema) -> tuple[pd.DataFrame, pd.Series]:
    test = splits[1]
    return to_features(test, schema), test[schema.target]


@pytest.fixture(scope="session")
def fitted_pipeline(config: ProjectConfig, schema: DatasetSchema, splits) -> Pipeline:
    train = splits[0]
    pipeline = build_pipeline(config, schema)
    return pipeline.fit(to_features(train, schema), train[schema.target])


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch copy of the project's config, as the working directory of a test.

    Step functions resolve the config's relative paths against it, and MLflow writes to a
    throwaway sqlite database inside it.
    """
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.fixture(scope="session")
def serving_bundle(
    tmp_path_factory: pytest.TempPathFactory, fitted_pipeline: Pipeline, schema, splits
) -> Path:
    """A serving bundle like ``export`` writes, built from the fitted pipeline (no MLflow).

    A small drift window lets tests fill it with a few requests.
    """
    bundle = tmp_path_factory.mktemp("bundle")
    model_io.save_model(fitted_pipeline, bundle / model_io.MLFLOW_MODEL_DIR / "model.skops")
    (bundle / model_io.ONNX_FILE).write_bytes(model_io.to_onnx(fitted_pipeline, schema))
    schema.save(bundle / model_io.SCHEMA_FILE)
    to_features(splits[0], schema).to_csv(bundle / model_io.REFERENCE_FILE, index=False)
    metadata = {
        "name": "test-model",
        "version": "7",
        "alias": "champion",
        "run_id": "0" * 32,
        "metrics": {{ '{"test_roc_auc": 0.99}' if cookiecutter.problem_type == "classification" else '{"test_rmse": 53.7}' }},
        "monitoring": {"window_size": 60, "min_window": 30},
    }
    (bundle / model_io.METADATA_FILE).write_text(json.dumps(metadata))
    return bundle
