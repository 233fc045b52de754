"""Data tests: the bundled dataset, the schema checks, the split, and CSV sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import ProjectConfig
from {{ cookiecutter.package_name }}.data import (
    fetch,
    load_source,
    load_split,
    prepare,
    validate,
)
from {{ cookiecutter.package_name }}.errors import DataValidationError
from {{ cookiecutter.package_name }}.schema import MISSING_CATEGORY, DatasetSchema


def test_raw_data_matches_expectations(raw_frame: pd.DataFrame, config: ProjectConfig) -> None:
    assert config.data.target in raw_frame.columns
    assert len(raw_frame) >= config.data.min_rows
    assert raw_frame.drop(columns=config.data.target).notna().all().all()
    assert raw_frame[config.data.target].nunique() >= 2


def test_schema_is_derived_from_the_data(schema: DatasetSchema, raw_frame: pd.DataFrame) -> None:
    assert schema.names() == [c for c in raw_frame.columns if c != schema.target]
    assert all(feature.kind == "numeric" for feature in schema.features)
{%- if cookiecutter.problem_type == "classification" %}
    assert schema.classes == sorted(raw_frame[schema.target].unique().tolist())


def test_split_is_stratified_and_disjoint(splits, raw_frame, config: ProjectConfig) -> None:
    train, test = splits
    assert len(train) + len(test) == len(raw_frame)
    assert set(train.index).isdisjoint(test.index)
    assert len(test) == pytest.approx(len(raw_frame) * config.training.test_size, abs=1)
    target = config.data.target
    share = raw_frame[target].value_counts(normalize=True)
    assert test[target].value_counts(normalize=True).sub(share).abs().max() < 0.02
{%- else %}
    assert set(schema.model_dump()) == {"target", "features"}  # a number has no classes


def test_split_is_shuffled_and_disjoint(splits, raw_frame, config: ProjectConfig) -> None:
    train, test = splits
    assert len(train) + len(test) == len(raw_frame)
    assert set(train.index).isdisjoint(test.index)
    assert len(test) == pytest.approx(len(raw_frame) * config.training.test_size, abs=1)
    assert set(test.index) != set(raw_frame.index[-len(test):])  # not just the last rows
{%- endif %}


def breaks(frame: pd.DataFrame, target: str, rule: str) -> pd.DataFrame:
    """A copy of ``frame`` that breaks one schema rule."""
    broken = frame.copy()
    if rule == "no target":
        return broken.drop(columns=target)
    if rule == "too few rows":
        return broken.head(20)
{%- if cookiecutter.problem_type == "classification" %}
    if rule == "one class":
        return broken[broken[target] == broken[target].iloc[0]]
    if rule == "missing target":
        broken[target] = broken[target].astype(float)
        broken.loc[broken.index[0], target] = np.nan
    elif rule == "empty column":
        broken["mean radius"] = np.nan
    elif rule == "infinite value":
        broken.loc[broken.index[0], "mean area"] = np.inf
    elif rule == "rare class":
        rare = broken[broken[target] == 0].index[3:]
        broken = broken.drop(index=rare)
    return broken


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("no target", "data.target"),
        ("too few rows", "data.min_rows"),
        ("one class", "needs at least 2 classes"),
        ("missing target", "have no target value"),
        ("empty column", "mean radius"),
        ("infinite value", "mean area"),
        ("rare class", "training.cv_folds"),
    ],
)
{%- else %}
    if rule == "constant target":
        broken[target] = broken[target].iloc[0]
    elif rule == "text target":
        broken[target] = np.where(broken[target] > broken[target].median(), "high", "low")
    elif rule == "infinite target":
        broken.loc[broken.index[0], target] = np.inf
    elif rule == "missing target":
        broken.loc[broken.index[0], target] = np.nan
    elif rule == "empty column":
        broken["bmi"] = np.nan
    elif rule == "infinite value":
        broken.loc[broken.index[0], "bp"] = np.inf
    return broken


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("no target", "data.target"),
        ("too few rows", "data.min_rows"),
        ("constant target", "target: needs at least 2 distinct values"),
        ("text target", "target: regression needs numbers, found"),
        ("infinite target", "target: column contains infinite values"),
        ("missing target", "have no target value"),
        ("empty column", "bmi"),
        ("infinite value", "bp"),
    ],
)
{%- endif %}
def test_schema_check_rejects_bad_data(raw_frame, config: ProjectConfig, rule, named) -> None:
    with pytest.raises(DataValidationError, match=named):
        validate(breaks(raw_frame, config.data.target, rule), config)


def test_unknown_sources_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="data.source: unknown bundled dataset"):
        load_source("sklearn:iris_typo", "target")
    with pytest.raises(DataValidationError, match="data.source: file"):
        load_source(str(tmp_path / "missing.csv"), "target")


def test_fetch_and_prepare_write_the_splits(project_dir: Path, config: ProjectConfig) -> None:
    raw = fetch(config)
    schema = prepare(config)
    processed = project_dir / config.data.processed_dir
    assert raw.is_file()
    assert {p.name for p in processed.iterdir()} == {"train.csv", "test.csv", "schema.json"}
    assert DatasetSchema.load(processed / "schema.json") == schema
    features, target = load_split(config, "test")
    assert list(features.columns) == schema.names()
    assert len(features) == len(target)


def test_own_csv_with_a_categorical_column(project_dir: Path, config: ProjectConfig) -> None:
    rng = np.random.default_rng(0)
    rows = 200
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
{%- if cookiecutter.problem_type == "classification" %}
            "churned": rng.choice(["no", "yes"], rows),
{%- else %}
            "spend": rng.normal(50.0, 10.0, rows),
{%- endif %}
        }
    )
    frame.loc[3, "plan"] = None
    frame.to_csv(project_dir / "customers.csv", index=False)
{%- if cookiecutter.problem_type == "classification" %}
    data = config.data.model_copy(update={"source": "customers.csv", "target": "churned"})
{%- else %}
    data = config.data.model_copy(update={"source": "customers.csv", "target": "spend"})
{%- endif %}
    own = config.model_copy(update={"data": data})
    fetch(own)
    schema = prepare(own)
    assert [(f.name, f.kind) for f in schema.features] == [
        ("tenure", "numeric"),
        ("plan", "categorical"),
    ]
    assert schema.features[1].categories == ["basic", "plus", "pro"]
{%- if cookiecutter.problem_type == "classification" %}
    assert schema.classes == ["no", "yes"]
{%- endif %}
    features, _ = load_split(own, "train")
    assert features["plan"].map(type).eq(str).all()
    assert MISSING_CATEGORY in set(load_split(own, "train")[0]["plan"]) | set(
        load_split(own, "test")[0]["plan"]
    )
