"""Shared fixtures: the real config, the project's own data, one fitted pipeline.

Nothing here names a column or a class: features, types and labels come from the schema
``prepare`` derives from whatever ``data.source`` points at, so the tests pass unchanged
when a team switches to its own data. Nothing needs the network or a tracking server:
MLflow tests use a temporary sqlite database, and file-writing steps run inside a
temporary copy of the project's config and source data.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.config import ProjectConfig, load_config
from {{ cookiecutter.package_name }}.data import (
    EXTERNAL_DIR,
    SKLEARN_PREFIX,
    fetch,
    load_source,
    prepare,
    select,
    split,
    training_schema,
)
{%- if cookiecutter.feature_store == "feast" %}
from {{ cookiecutter.package_name }}.feature_store import apply, with_key_columns
{%- endif %}
from {{ cookiecutter.package_name }}.schema import SCHEMA_FILE, DatasetSchema, Feature, to_features
from {{ cookiecutter.package_name }}.train import build_pipeline

from service_support import Record, serve
from task_support import BUNDLE_METRICS, QUICK_LINEAR, WEAK_LINEAR, synthetic_target

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = PROJECT_ROOT / "config" / "model_config.yaml"
{%- if cookiecutter.feature_store == "feast" %}
# The feature repository's own files; the steps write the rest (table, registry, stores).
FEATURE_REPO_FILES = ("feature_store.yaml", "definitions.py", ".feastignore")
{%- endif %}

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


def drift_candidate(schema: DatasetSchema, reference: pd.DataFrame) -> Feature:
    """The feature tests shift to provoke drift: a numeric one that varies, else a
    categorical one with at least two categories."""
    numeric = [f for f in schema.features if f.kind == "numeric" and reference[f.name].std() > 0]
    categorical = [f for f in schema.features if f.kind == "categorical" and len(f.categories) > 1]
    candidates = numeric + categorical
    assert candidates, "no feature varies: nothing can drift"
    return candidates[0]


def shifted(frame: pd.DataFrame, reference: pd.DataFrame, feature: Feature) -> pd.DataFrame:
    """A copy of ``frame`` where one feature moved: numbers up by 3 reference standard
    deviations, categories all set to the reference's rarest one."""
    moved = frame.copy()
    if feature.kind == "numeric":
        spread = float(reference[feature.name].astype(float).std())
        moved[feature.name] = moved[feature.name].astype(float) + 3 * spread
    else:
        rarest = reference[feature.name].dropna().astype(str).value_counts().idxmin()
        moved[feature.name] = str(rarest)
    return moved


# A value as JSON carries it, by the feature's type in training.
JSON_TYPES = {"float": float, "integer": int, "boolean": bool, "string": str}


def model_outputs(pipeline: Pipeline, features: pd.DataFrame) -> np.ndarray:
    """What a predictor's ``outputs`` must equal: the pipeline's class probabilities if
    it is a classifier, its predictions otherwise."""
    if hasattr(pipeline, "classes_"):
        return np.asarray(pipeline.predict_proba(features))
    return np.asarray(pipeline.predict(features))


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as records keyed by column name (pandas types the keys Hashable)."""
    return cast(list[dict[str, Any]], frame.to_dict(orient="records"))


def request_records(rows: pd.DataFrame, schema: DatasetSchema) -> list[dict[str, Any]]:
    """Rows of the project's data as a client sends them: each feature in its JSON type,
    None for a missing value."""
    casts = {feature.name: JSON_TYPES[feature.dtype] for feature in schema.features}
    return [
        {name: None if pd.isna(value) else casts[name](value) for name, value in row.items()}
        for row in rows_of(rows[schema.names()])
    ]


def with_gaps(rows: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """A copy of ``rows`` with one missing value per row, every feature in turn, and the
    last row missing everything: each feature gets imputed at least once."""
    gapped = rows[schema.names()].astype(object).reset_index(drop=True)
    names = schema.names()
    for row in range(len(gapped)):
        gapped.loc[row, names[row % len(names)]] = None
    gapped.loc[len(gapped) - 1, :] = None
    return gapped


def mixed_frame(size: int = 300, seed: int = 1) -> pd.DataFrame:
    """Data with a feature of every type, each with missing values but the integer one
    (pandas reads an integer column with gaps as floats); ``target`` depends on them."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(50, 15, size)
    plan = rng.choice(["basic", "plus", "pro"], size)
    score = amount / 15 + (plan == "pro") + rng.normal(0, 1, size)
    frame = pd.DataFrame(
        {
            "amount": np.where(rng.random(size) < 0.1, np.nan, amount),
            "visits": rng.integers(0, 20, size),
            "member": pd.Series(rng.random(size) < 0.5, dtype=object),
            "plan": pd.Series(plan, dtype=object),
            "target": synthetic_target(score),
        }
    )
    frame.loc[rng.random(size) < 0.1, "member"] = None
    frame.loc[rng.random(size) < 0.1, "plan"] = None
    return frame


def write_bundle(
    path: Path,
    pipeline: Pipeline,
    schema: DatasetSchema,
    reference: pd.DataFrame,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """A serving bundle as ``export`` writes one, built from a fitted pipeline (no MLflow)."""
    model_dir = path / model_io.MLFLOW_MODEL_DIR
    model_io.save_model(pipeline, model_dir / "model.skops")
    # The part of the MLmodel file MLflow writes that the service reads.
    flavor = {"pickled_model": "model.skops", "serialization_format": "skops"}
    (model_dir / model_io.MLMODEL_FILE).write_text(yaml.safe_dump({"flavors": {"sklearn": flavor}}))
    (path / model_io.ONNX_FILE).write_bytes(model_io.to_onnx(pipeline, schema))
    schema.save(path / SCHEMA_FILE)
    to_features(reference, schema).to_csv(path / model_io.REFERENCE_FILE, index=False)
    metadata = metadata or {"name": "typed", "version": "1", "alias": "champion", "metrics": {}}
    (path / model_io.METADATA_FILE).write_text(json.dumps(metadata))
    return path


{%- if cookiecutter.feature_store == "feast" %}


def register_features(root: Path, config: ProjectConfig) -> None:
    """Step ``features`` in a scratch project ``root`` (the cwd) that ``prepare`` ran in:
    a copy of the repository's files, the feature table, the registered definitions."""
    repo = root / config.feature_store.repo_path
    repo.mkdir(parents=True, exist_ok=True)
    for name in FEATURE_REPO_FILES:
        shutil.copy(PROJECT_ROOT / config.feature_store.repo_path / name, repo / name)
    apply(config)
{%- endif %}


@pytest.fixture(scope="session")
def config() -> ProjectConfig:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def raw_frame(config: ProjectConfig) -> pd.DataFrame:
    """``data.source`` as the data step reads it (a relative path from the project root)."""
    source = config.data.source
    if not source.startswith(SKLEARN_PREFIX):
        source = str(PROJECT_ROOT / source)
{%- if cookiecutter.feature_store == "feast" %}
    # With the feature store's key columns, as the data step writes it.
    return with_key_columns(load_source(source, config.data.target), config)
{%- else %}
    return load_source(source, config.data.target)
{%- endif %}


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
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch copy of the project's config and source data, as the working directory.

    Step functions resolve the config's relative paths against it, and MLflow writes to a
    throwaway sqlite database inside it.
    """
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    if (PROJECT_ROOT / EXTERNAL_DIR).is_dir():
        shutil.copytree(PROJECT_ROOT / EXTERNAL_DIR, tmp_path / EXTERNAL_DIR)
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
