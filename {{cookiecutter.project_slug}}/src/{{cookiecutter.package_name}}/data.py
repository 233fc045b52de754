"""Get the raw dataset, check it meets the pipeline's needs, and split it.

Steps ``data`` (``fetch``) and ``prepare`` (``prepare``) of the pipeline. The default
source is a dataset bundled with scikit-learn, so the pipeline runs offline; point
``data.source`` at a CSV file to use your own data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.datasets import {{ "load_breast_cancer" if cookiecutter.problem_type == "classification" else "load_diabetes" }}
from sklearn.model_selection import train_test_split

from .config import ProjectConfig
from .errors import DataValidationError
from .schema import SCHEMA_FILE, DatasetSchema, Feature, to_features

log = logging.getLogger(__name__)

SKLEARN_PREFIX = "sklearn:"
{%- if cookiecutter.problem_type == "classification" %}
BUNDLED_DATASETS: dict[str, Callable[..., object]] = {"breast_cancer": load_breast_cancer}
{%- else %}
BUNDLED_DATASETS: dict[str, Callable[..., object]] = {"diabetes": load_diabetes}
{%- endif %}
Split = Literal["train", "test"]


def load_source(source: str, target: str) -> pd.DataFrame:
    """Read ``data.source``: ``sklearn:<name>`` or a CSV path."""
    if source.startswith(SKLEARN_PREFIX):
        name = source.removeprefix(SKLEARN_PREFIX)
        loader = BUNDLED_DATASETS.get(name)
        if loader is None:
            known = ", ".join(sorted(BUNDLED_DATASETS))
            raise DataValidationError(
                f"data.source: unknown bundled dataset {name!r}; choose one of: {known}"
            )
        frame = loader(as_frame=True).frame
        return frame.rename(columns={"target": target})
    path = Path(source)
    if not path.is_file():
        raise DataValidationError(f"data.source: file {source!r} not found")
    return pd.read_csv(path)


def fetch(config: ProjectConfig) -> Path:
    """Step ``data``: write the raw dataset to ``data.raw_path``."""
    frame = load_source(config.data.source, config.data.target)
    out = Path(config.data.raw_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    log.info("wrote %d rows x %d columns to %s", *frame.shape, out)
    return out


def infer_schema(frame: pd.DataFrame, target: str) -> DatasetSchema:
    """Numeric columns stay numeric; everything else is categorical."""
    features = []
    for name in frame.columns.drop(target):
        column = frame[name]
        if is_numeric_dtype(column) and not is_bool_dtype(column):
            features.append(Feature(name=str(name), kind="numeric"))
        else:
            categories = sorted(column.dropna().astype(str).unique().tolist())
            features.append(Feature(name=str(name), kind="categorical", categories=categories))
{%- if cookiecutter.problem_type == "classification" %}
    classes = sorted(pd.unique(frame[target]).tolist())
    return DatasetSchema(target=target, classes=classes, features=features)
{%- else %}
    return DatasetSchema(target=target, features=features)
{%- endif %}


def validate(frame: pd.DataFrame, config: ProjectConfig) -> DatasetSchema:
    """Reject data the pipeline cannot learn from, naming the column and the rule."""
    target = config.data.target
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise DataValidationError(f"columns: duplicated column names {duplicated}")
    if target not in frame.columns:
        raise DataValidationError(
            f"data.target: column {target!r} is not in the dataset "
            f"(columns: {', '.join(map(str, frame.columns[:5]))}, ...)"
        )
    if len(frame) < config.data.min_rows:
        raise DataValidationError(
            f"rows: the dataset has {len(frame)} rows; data.min_rows is {config.data.min_rows}"
        )
    missing_target = int(frame[target].isna().sum())
    if missing_target:
        raise DataValidationError(f"{target}: {missing_target} rows have no target value")
{%- if cookiecutter.problem_type == "classification" %}
    counts = frame[target].value_counts()
    if len(counts) < 2:
        raise DataValidationError(f"{target}: needs at least 2 classes, found {len(counts)}")
    folds = config.training.cv_folds
    if counts.min() < folds:
        raise DataValidationError(
            f"{target}: class {counts.idxmin()!r} has {counts.min()} rows; "
            f"training.cv_folds={folds} needs at least {folds} per class"
        )
{%- else %}
    values = frame[target]
    if not is_numeric_dtype(values) or is_bool_dtype(values):
        raise DataValidationError(
            f"{target}: regression needs numbers, found {values.dtype} values"
        )
    if np.isinf(values.to_numpy(dtype=float)).any():
        raise DataValidationError(f"{target}: column contains infinite values")
    if values.nunique() < 2:
        raise DataValidationError(f"{target}: needs at least 2 distinct values, found 1")
{%- endif %}
    if len(frame.columns) < 2:
        raise DataValidationError("columns: no feature columns besides the target")
    for name in frame.columns.drop(target):
        column = frame[name]
        if column.isna().all():
            raise DataValidationError(f"{name}: column is empty (every value is missing)")
        if is_numeric_dtype(column) and not is_bool_dtype(column):
            if np.isinf(column.to_numpy(dtype=float)).any():
                raise DataValidationError(f"{name}: column contains infinite values")
    return infer_schema(frame, target)


def split(frame: pd.DataFrame, config: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
{%- if cookiecutter.problem_type == "classification" %}
    """Stratified split, so both parts keep the class balance."""
    train, test = train_test_split(
        frame,
        test_size=config.training.test_size,
        random_state=config.training.random_state,
        stratify=frame[config.data.target],
    )
{%- else %}
    """Shuffled random split: a numeric target has no classes to stratify by."""
    train, test = train_test_split(
        frame, test_size=config.training.test_size, random_state=config.training.random_state
    )
{%- endif %}
    return train, test


def prepare(config: ProjectConfig) -> DatasetSchema:
    """Step ``prepare``: validate the raw data, split it, and record its schema."""
    frame = pd.read_csv(config.data.raw_path)
    schema = validate(frame, config)
    train, test = split(frame, config)
    out = Path(config.data.processed_dir)
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "train.csv", index=False)
    test.to_csv(out / "test.csv", index=False)
    schema.save(out / SCHEMA_FILE)
    log.info("split %d rows into %d train / %d test in %s", len(frame), len(train), len(test), out)
    return schema


def load_schema(config: ProjectConfig) -> DatasetSchema:
    return DatasetSchema.load(Path(config.data.processed_dir) / SCHEMA_FILE)


def load_split(config: ProjectConfig, part: Split) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of the train or test split written by ``prepare``."""
    schema = load_schema(config)
    frame = pd.read_csv(Path(config.data.processed_dir) / f"{part}.csv")
    return to_features(frame, schema), frame[schema.target]
