"""Get the raw dataset, check it meets the pipeline's needs, and split it.

Steps ``data`` (``fetch``) and ``prepare`` (``prepare``) of the pipeline. The default
source is a dataset bundled with scikit-learn, so the pipeline runs offline; point
``data.source`` at a CSV or Parquet file in ``data/external/`` to use your own data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_bool_dtype, is_integer_dtype, is_numeric_dtype
from sklearn.model_selection import train_test_split

from . import task
from .config import ProjectConfig
from .errors import DataValidationError, require_file
from .reports import read_table, write_csv, write_json
from .schema import SCHEMA_FILE, DatasetSchema, Dtype, Feature, to_features
from .task_config import EvaluationSection

log = logging.getLogger(__name__)

SKLEARN_PREFIX = "sklearn:"
# The data stage depends on this folder (dvc.yaml), so editing a file in it re-runs the
# pipeline; a source elsewhere in the project would go unnoticed.
EXTERNAL_DIR = Path("data/external")
DATA_METRICS_FILE = "data.json"
Split = Literal["train", "test"]


def load_source(source: str, target: str) -> pd.DataFrame:
    """Read ``data.source``: ``sklearn:<name>``, or a ``.csv`` or ``.parquet`` file."""
    if source.startswith(SKLEARN_PREFIX):
        name = source.removeprefix(SKLEARN_PREFIX)
        loader = task.BUNDLED_DATASETS.get(name)
        if loader is None:
            known = ", ".join(sorted(task.BUNDLED_DATASETS))
            raise DataValidationError(
                f"data.source: unknown bundled dataset {name!r}; choose one of: {known}"
            )
        frame: pd.DataFrame = loader(as_frame=True).frame
        return frame.rename(columns={"target": target})
    return read_table(Path(source), "data.source")


def check_tracked(source: str) -> None:
    """A file source inside the project must sit in ``data/external/``; one outside the
    project is read, with a warning that DVC cannot see it change."""
    if source.startswith(SKLEARN_PREFIX):
        return
    path = Path(source).resolve()
    if not path.is_relative_to(Path.cwd()):
        log.warning("data.source %s is outside the project: DVC cannot track its changes", source)
    elif not path.is_relative_to(EXTERNAL_DIR.resolve()):
        raise DataValidationError(
            f"data.source: {source!r} is not in {EXTERNAL_DIR}/; keep source files there so "
            "the data stage re-runs when they change"
        )


def fetch(config: ProjectConfig) -> Path:
    """Step ``data``: write the raw dataset to ``data.raw_path``."""
    check_tracked(config.data.source)
    frame = load_source(config.data.source, config.data.target)
{%- if cookiecutter.feature_store == "feast" %}
    from .feature_store import with_key_columns  # imports no Feast: only pandas

    frame = with_key_columns(frame, config)
{%- endif %}
    out = write_csv(Path(config.data.raw_path), frame)
    log.info("wrote %d rows x %d columns to %s", *frame.shape, out)
    return out


def infer_feature(name: str, column: pd.Series) -> Feature:
    """Numbers are numeric features (integers keep their type); booleans and everything
    else are categories."""
    dtype: Dtype
    if infer_dtype(column, skipna=True) == "boolean":
        dtype = "boolean"
    elif is_integer_dtype(column) and not is_bool_dtype(column):
        return Feature(name=name, kind="numeric", dtype="integer")
    elif is_numeric_dtype(column):
        return Feature(name=name, kind="numeric", dtype="float")
    else:
        dtype = "string"
    categories = sorted(column.dropna().astype(str).unique().tolist())
    return Feature(name=name, kind="categorical", dtype=dtype, categories=categories)


def infer_schema(
    frame: pd.DataFrame, target: str, evaluation: EvaluationSection | None = None
) -> DatasetSchema:
    """Feature types from the data, and what the task records about the target (the
    classes and the positive one, for classification; ``evaluation`` may name it)."""
    features = [infer_feature(str(name), frame[name]) for name in frame.columns.drop(target)]
    about_target = task.describe_target(frame[target], evaluation or EvaluationSection())
    return DatasetSchema(target=target, features=features, **about_target)


def select(frame: pd.DataFrame, config: ProjectConfig) -> tuple[pd.DataFrame, int]:
    """Leave out ``data.drop_columns`` and, with ``missing_target: drop``, the rows that
    have no target; return the rest and how many rows were dropped."""
    target = config.data.target
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise DataValidationError(f"columns: duplicated column names {duplicated}")
    columns = ", ".join(map(str, frame.columns[:8])) + (", ..." if len(frame.columns) > 8 else "")
    if target not in frame.columns:
        raise DataValidationError(
            f"data.target: column {target!r} is not in the dataset (columns: {columns})"
        )
    unknown = [name for name in config.data.drop_columns if name not in frame.columns]
    if unknown:
        raise DataValidationError(
            f"data.drop_columns: {unknown} not in the dataset (columns: {columns})"
        )
    frame = frame.drop(columns=config.data.drop_columns)
    missing = frame[target].isna()
    if missing.any() and config.data.missing_target == "error":
        raise DataValidationError(
            f"{target}: {int(missing.sum())} rows have no target value "
            "(data.missing_target: drop leaves them out)"
        )
    if missing.any():
        log.info("dropped %d rows without a %s value", int(missing.sum()), target)
    kept = frame[~missing].reset_index(drop=True)
    # Gaps made a bool or int target "object": infer its type again, then the task's cleaning.
    kept[target] = task.clean_target(kept[target].infer_objects())
    return kept, int(missing.sum())


def validate(frame: pd.DataFrame, config: ProjectConfig) -> None:
    """Reject data the pipeline cannot learn from, naming the column and the rule."""
    target = config.data.target
    if len(frame) < config.data.min_rows:
        raise DataValidationError(
            f"rows: the dataset has {len(frame)} rows; data.min_rows is {config.data.min_rows}"
        )
    task.check_target(frame[target], config.training.cv_folds)
    if len(frame.columns) < 2:
        raise DataValidationError("columns: no feature columns besides the target")
    for name in frame.columns.drop(target):
        column = frame[name]
        if column.isna().all():
            raise DataValidationError(f"{name}: column is empty (every value is missing)")
        if is_numeric_dtype(column) and not is_bool_dtype(column):
            if np.isinf(column.to_numpy(dtype=float)).any():
                raise DataValidationError(f"{name}: column contains infinite values")


def split(frame: pd.DataFrame, config: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffled split, stratified by what the task says (classification: the classes, so
    both parts keep the class balance; regression: nothing)."""
    train, test = train_test_split(
        frame,
        test_size=config.training.test_size,
        random_state=config.training.random_state,
        stratify=task.strata(frame[config.data.target]),
    )
    return train, test


def training_schema(train: pd.DataFrame, config: ProjectConfig) -> DatasetSchema:
    """The schema of the training split: its categories are the ones the model learns."""
{%- if cookiecutter.feature_store == "feast" %}
    train = train.drop(columns=config.feature_store.key_columns())  # row ids, not features
{%- endif %}
    return infer_schema(train, config.data.target, config.evaluation)


def prepare(config: ProjectConfig) -> DatasetSchema:
    """Step ``prepare``: select, validate and split the raw data; record its schema."""
    raw_path = require_file(Path(config.data.raw_path), "data.raw_path", "data")
    raw = read_table(raw_path, "data.raw_path")
    frame, dropped = select(raw, config)
    validate(frame, config)
    train, test = split(frame, config)
    schema = training_schema(train, config)
    out = Path(config.data.processed_dir)
    write_csv(out / "train.csv", train)
    write_csv(out / "test.csv", test)
    schema.save(out / SCHEMA_FILE)
    summary: dict[str, Any] = {
        "rows_raw": len(raw),
        "rows_dropped_missing_target": dropped,
        "rows_train": len(train),
        "rows_test": len(test),
        "features": len(schema.features),
    }
    if schema.positive_class is not None:
        summary["positive_class"] = schema.positive_class
    write_json(Path(config.artifacts.metrics_dir) / DATA_METRICS_FILE, summary)
    log.info("split %d rows into %d train / %d test in %s", len(frame), len(train), len(test), out)
    return schema


def load_schema(config: ProjectConfig) -> DatasetSchema:
    path = Path(config.data.processed_dir) / SCHEMA_FILE
    return DatasetSchema.load(require_file(path, "data.processed_dir", "prepare"))


def load_split(config: ProjectConfig, part: Split) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of the train or test split written by ``prepare``."""
    schema = load_schema(config)
    path = Path(config.data.processed_dir) / f"{part}.csv"
    frame = read_table(require_file(path, "data.processed_dir", "prepare"), "data.processed_dir")
    return to_features(frame, schema, f"{part} split"), frame[schema.target]
