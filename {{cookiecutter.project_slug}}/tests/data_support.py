"""Tables and records the tests build from the project's data (the fixtures: shared_fixtures).

Nothing here names a column of the bundled data: a shifted or gapped copy, the records a
client would send and the feature a drift test moves all follow the schema, and the one
table built from scratch (``mixed_frame``) has a feature of every type.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.data import EXTERNAL_DIR
from {{ cookiecutter.package_name }}.schema import DatasetSchema, Feature

from task_support import synthetic_target

# The project under test: its config and source data are what scratch copies start from.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# A value as JSON carries it, by the feature's type in training.
JSON_TYPES = {"float": float, "integer": int, "boolean": bool, "string": str}


def copy_project_inputs(root: Path) -> None:
    """Copy into the scratch project ``root`` what every step reads: the config and the
    source data in ``data/external/`` (a bundled dataset has none)."""
    shutil.copytree(PROJECT_ROOT / "config", root / "config")
    if (PROJECT_ROOT / EXTERNAL_DIR).is_dir():
        shutil.copytree(PROJECT_ROOT / EXTERNAL_DIR, root / EXTERNAL_DIR)


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """``table`` written to ``path``, CSV or Parquet by its suffix (the two formats
    ``data.source`` reads), its folders made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    return path


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
