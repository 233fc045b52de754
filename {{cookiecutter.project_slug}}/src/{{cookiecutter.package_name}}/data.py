"""Get the raw dataset, check it meets the pipeline's needs, and split it.

Steps ``data`` (``fetch``) and ``prepare`` (``prepare``) of the pipeline. The default
source is a dataset bundled with scikit-learn, so the pipeline runs offline; point
``data.source`` at a CSV or Parquet file in ``data/external/`` to use your own data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_bool_dtype, is_integer_dtype, is_numeric_dtype
from sklearn.datasets import {{ "load_breast_cancer" if cookiecutter.problem_type == "classification" else "load_diabetes" }}
from sklearn.model_selection import train_test_split

from .config import ProjectConfig
from .errors import DataValidationError, require_file
from .reports import read_table, write_csv, write_json
from .schema import SCHEMA_FILE, DatasetSchema, Feature, to_features

log = logging.getLogger(__name__)

SKLEARN_PREFIX = "sklearn:"
{%- if cookiecutter.problem_type == "classification" %}
BUNDLED_DATASETS: dict[str, Callable[..., Any]] = {"breast_cancer": load_breast_cancer}
{%- else %}
BUNDLED_DATASETS: dict[str, Callable[..., Any]] = {"diabetes": load_diabetes}
{%- endif %}
# The data stage depends on this folder (dvc.yaml), so editing a file in it re-runs the
# pipeline; a source elsewhere in the project would go unnoticed.
EXTERNAL_DIR = Path("data/external")
DATA_METRICS_FILE = "data.json"
Split = Literal["train", "test"]


def load_source(source: str, target: str) -> pd.DataFrame:
    """Read ``data.source``: ``sklearn:<name>``, or a ``.csv`` or ``.parquet`` file."""
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
    out = write_csv(Path(config.data.raw_path), frame)
    log.info("wrote %d rows x %d columns to %s", *frame.shape, out)
    return out


def infer_feature(name: str, column: pd.Series) -> Feature:
    """Numbers are numeric features (integers keep their type); booleans and everything
    else are categories."""
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
{%- if cookiecutter.problem_type == "classification" %}


def choose_positive_class(target: pd.Series, configured: Any = None) -> Any:
    """The class binary metrics are about: ``evaluation.positive_class``, else the minority
    class (the later one in sorted order on a tie). None for multi-class targets."""
    counts = target.value_counts().sort_index()
    classes = counts.index.tolist()
    if len(classes) != 2:
        if configured is not None:
            raise DataValidationError(
                f"evaluation.positive_class: only binary targets have one; "
                f"{target.name!r} has {len(classes)} classes"
            )
        return None
    if configured is None:
        return classes[int(counts.iloc[1] <= counts.iloc[0])]
    matches = [c for c in classes if type(c) is type(configured) and c == configured]
    if not matches:
        raise DataValidationError(
            f"evaluation.positive_class: {configured!r} is not a class of {target.name!r} "
            f"(classes: {classes}; quote labels such as 'yes' in YAML)"
        )
    return matches[0]


def infer_schema(frame: pd.DataFrame, target: str, positive_class: Any = None) -> DatasetSchema:
    """Feature types from the data, and the classes with the positive one."""
    features = [infer_feature(str(name), frame[name]) for name in frame.columns.drop(target)]
    return DatasetSchema(
        target=target,
        classes=sorted(pd.unique(frame[target]).tolist()),
        positive_class=choose_positive_class(frame[target], positive_class),
        features=features,
    )
{%- else %}


def infer_schema(frame: pd.DataFrame, target: str) -> DatasetSchema:
    """Feature types from the data."""
    features = [infer_feature(str(name), frame[name]) for name in frame.columns.drop(target)]
    return DatasetSchema(target=target, features=features)
{%- endif %}


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
    kept[target] = kept[target].infer_objects()  # gaps made a bool or int column "object"
{%- if cookiecutter.problem_type == "classification" %}
    labels = kept[target]
    # Whole-number labels read as floats (a column with gaps) become integers again.
    if labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels % 1 == 0).all():
        kept[target] = labels.astype(int)
{%- endif %}
    return kept, int(missing.sum())


def validate(frame: pd.DataFrame, config: ProjectConfig) -> None:
    """Reject data the pipeline cannot learn from, naming the column and the rule."""
    target = config.data.target
    if len(frame) < config.data.min_rows:
        raise DataValidationError(
            f"rows: the dataset has {len(frame)} rows; data.min_rows is {config.data.min_rows}"
        )
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


def training_schema(train: pd.DataFrame, config: ProjectConfig) -> DatasetSchema:
    """The schema of the training split: its categories are the ones the model learns."""
{%- if cookiecutter.problem_type == "classification" %}
    return infer_schema(train, config.data.target, config.evaluation.positive_class)
{%- else %}
    return infer_schema(train, config.data.target)
{%- endif %}


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
