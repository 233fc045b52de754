"""Shared fixtures: the real config, the project's own data, one fitted pipeline.

Nothing here names a column or a class: features, types and labels come from the schema
``prepare`` derives from whatever ``data.source`` points at, so the tests pass unchanged
when a team switches to its own data. Nothing needs the network or a tracking server:
MLflow tests use a temporary sqlite database, and file-writing steps run inside a
temporary copy of the project's config and source data. The helpers that are not
fixtures live in the ``*_support`` modules. A pytest plugin, not the conftest: see
conftest.py for why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.config import ProjectConfig, load_config
from {{ cookiecutter.package_name }}.data import (
    SKLEARN_PREFIX,
    fetch,
    infer_schema,
    prepare,
    select,
    split,
    training_schema,
)
from {{ cookiecutter.package_name }}.schema import DatasetSchema, Dtype, Feature, to_features
from {{ cookiecutter.package_name }}.train import build_pipeline

from data_support import (
    PROJECT_ROOT,
    drift_candidate,
    mixed_frame,
    request_records,
)
from service_support import Bundle, Record, serve, write_bundle
from store_support import copy_inputs, raw_table
from task_support import BUNDLE_METRICS, QUICK_LINEAR, WEAK_LINEAR

CONFIG_PATH = PROJECT_ROOT / "config" / "model_config.yaml"

# Hyperparameters, per algorithm, for a model that trains in a moment and for a deliberately
# weak one (the registry must not promote it), whichever algorithm the config chooses.
QUICK_SETTINGS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 30},
    "gradient_boosting": {"max_iter": 30},
    "linear": QUICK_LINEAR,
}
WEAK_SETTINGS: dict[str, dict[str, Any]] = {
    # Far weaker than the configured model, yet (on data with any signal) better than the
    # feature-blind baseline, so it passes a gate of min_improvement 0 and must lose to the
    # champion on its own merits.
    "random_forest": {"n_estimators": 2, "max_depth": 2},
    "gradient_boosting": {"max_iter": 3, "max_depth": 1},
    "linear": WEAK_LINEAR,
}

# What the split fixtures hold: the (train, test) rows, and (features, target) of a part.
Splits = tuple[pd.DataFrame, pd.DataFrame]
Labelled = tuple[pd.DataFrame, pd.Series]

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
    """``data.source`` as the data step reads it (a relative path from the project root)."""
    source = config.data.source
    if not source.startswith(SKLEARN_PREFIX):
        source = str(PROJECT_ROOT / source)
    return raw_table(source, config)


@pytest.fixture(scope="session")
def frame(raw_frame: pd.DataFrame, config: ProjectConfig) -> pd.DataFrame:
    """The rows and columns the pipeline learns from (``data.drop_columns`` and
    ``data.missing_target`` applied), as ``prepare`` selects them."""
    return select(raw_frame, config)[0]


@pytest.fixture(scope="session")
def splits(frame: pd.DataFrame, config: ProjectConfig) -> Splits:
    return split(frame, config)


@pytest.fixture(scope="session")
def schema(splits, config: ProjectConfig) -> DatasetSchema:
    return training_schema(splits[0], config)


@pytest.fixture(scope="session")
def held_out(splits: Splits, schema: DatasetSchema) -> Labelled:
    test = splits[1]
    return to_features(test, schema), test[schema.target]


@pytest.fixture(scope="session")
def training(splits: Splits, schema: DatasetSchema) -> Labelled:
    train = splits[0]
    return to_features(train, schema), train[schema.target]


@pytest.fixture(scope="session")
def fitted_pipeline(config: ProjectConfig, schema: DatasetSchema, training) -> Pipeline:
    return build_pipeline(config, schema).fit(*training)


@pytest.fixture(scope="session")
def drift_feature(schema: DatasetSchema, splits) -> Feature:
    return drift_candidate(schema, splits[0])


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: ProjectConfig) -> Path:
    """A scratch copy of what the project's steps read (config, source data), as the
    working directory.

    Step functions resolve the config's relative paths against it, and MLflow writes to a
    throwaway sqlite database inside it.
    """
    copy_inputs(tmp_path, config)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.fixture
def evaluated_project(project_dir: Path, config: ProjectConfig, fitted_pipeline: Pipeline) -> Path:
    """A project directory ready for the evaluate step: prepared data, a fitted model."""
    fetch(config)
    prepare(config)
    model_io.save_model(fitted_pipeline, Path(config.artifacts.model_path))
    return project_dir


@pytest.fixture(scope="session")
def serving_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    fitted_pipeline: Pipeline,
    schema: DatasetSchema,
    training,
) -> Path:
    """A serving bundle like ``export`` writes, built from the fitted pipeline (no MLflow).

    A small drift window lets tests fill it with a few requests.
    """
    metadata = {
        "name": "test-model",
        "version": "7",
        "alias": "champion",
        "run_id": "0" * 32,
        "metrics": BUNDLE_METRICS,
        "monitoring": {"window_size": 60, "min_window": 30},
    }
    return write_bundle(
        tmp_path_factory.mktemp("bundle"), fitted_pipeline, schema, training[0], metadata
    )


@pytest.fixture(scope="session")
def typed(schema, serving_bundle, fitted_pipeline, splits, config, tmp_path_factory) -> Bundle:
    """A bundle with a feature of every type: the project's own if its data has one, else
    one trained on ``mixed_frame`` (type checks of the API tests need every type)."""
    if {f.dtype for f in schema.features} >= set(get_args(Dtype)):
        return Bundle(serving_bundle, schema, fitted_pipeline, splits[0])
    frame = mixed_frame()
    mixed = infer_schema(frame, "target")
    pipeline = build_pipeline(config, mixed).fit(to_features(frame, mixed), frame["target"])
    path = write_bundle(tmp_path_factory.mktemp("typed"), pipeline, mixed, frame)
    return Bundle(path, mixed, pipeline, frame)


@pytest.fixture
def typed_client(typed: Bundle) -> Iterator[TestClient]:
    """A client of the service on the ``typed`` bundle."""
    with serve(typed.path) as test_client:
        yield test_client


@pytest.fixture
def client(serving_bundle: Path) -> Iterator[TestClient]:
    """A client of the service on the serving bundle, its model loaded."""
    with serve(serving_bundle) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def rows(splits: Splits, schema: DatasetSchema) -> pd.DataFrame:
    """Held-out rows, at most a full batch of them."""
    return splits[1][schema.names()].head(200)


@pytest.fixture(scope="module")
def records(rows: pd.DataFrame, schema: DatasetSchema) -> list[Record]:
    return request_records(rows, schema)


@pytest.fixture(scope="module")
def known(splits, schema: DatasetSchema) -> list[Record]:
    """Training rows: every category in them is one the model has seen."""
    return request_records(splits[0].head(60), schema)
