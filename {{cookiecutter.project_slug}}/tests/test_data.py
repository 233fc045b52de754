"""Data tests: the project's dataset, the schema checks, the split, and file sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from {{ cookiecutter.package_name }}.config import ProjectConfig
from {{ cookiecutter.package_name }}.data import (
    DATA_METRICS_FILE,
    EXTERNAL_DIR,
    fetch,
    infer_schema,
    load_source,
    load_split,
    prepare,
    select,
    validate,
)
from {{ cookiecutter.package_name }}.errors import DataValidationError, PipelineError
from {{ cookiecutter.package_name }}.schema import MISSING_CATEGORY, DatasetSchema

from shared_fixtures import override
from store_support import feature_columns, write_source
from task_support import OWN_TARGET, OWN_TARGET_FIELDS, own_target


def test_dataset_meets_the_pipelines_needs(frame: pd.DataFrame, config: ProjectConfig) -> None:
    target = config.data.target
    assert len(frame) >= config.data.min_rows
    assert frame[target].notna().all()
    assert frame[target].nunique() >= 2
    assert not set(config.data.drop_columns) & set(frame.columns)


def test_schema_is_derived_from_the_data(
    schema: DatasetSchema, frame: pd.DataFrame, config: ProjectConfig
) -> None:
    assert schema.target == config.data.target
    assert schema.names() == feature_columns(frame, config)
    for feature in schema.features:
        column = frame[feature.name]
        numeric = is_numeric_dtype(column) and not is_bool_dtype(column)
        assert (feature.kind == "numeric") == numeric, feature.name
        if feature.kind == "categorical":
            assert set(feature.categories) <= set(column.dropna().astype(str)), feature.name


def breaks(frame: pd.DataFrame, schema: DatasetSchema, rule: str) -> pd.DataFrame:
    """A copy of ``frame`` that breaks one rule of ``validate`` on the features (the
    target's own rules are the task's: test_task)."""
    broken = frame.copy()
    if rule == "too few rows":
        return broken.head(20)
    if rule == "empty column":
        broken[schema.names()[0]] = np.nan
    elif rule == "infinite value":
        numeric = schema.names("numeric")
        if not numeric:
            pytest.skip("the dataset has no numeric feature to make infinite")
        broken[numeric[0]] = broken[numeric[0]].astype(float)
        broken.loc[broken.index[0], numeric[0]] = np.inf
    return broken


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("too few rows", "data.min_rows"),
        ("empty column", "{first}: column is empty"),
        ("infinite value", "{numeric}: column contains infinite values"),
    ],
)
def test_schema_check_rejects_bad_data(frame, schema, config: ProjectConfig, rule, named) -> None:
    broken = breaks(frame, schema, rule)
    names = {"first": schema.names()[0]}
    names["numeric"] = (schema.names("numeric") or [""])[0]
    with pytest.raises(DataValidationError, match=named.format(**names)):
        validate(broken, config)


def test_select_needs_the_target_and_known_drop_columns(raw_frame, config: ProjectConfig) -> None:
    with pytest.raises(DataValidationError, match="data.target: column"):
        select(raw_frame.drop(columns=config.data.target), config)
    unknown = override(config, data={"drop_columns": ["no such column"]})
    with pytest.raises(DataValidationError, match=r"data.drop_columns: \['no such column'\] not"):
        select(raw_frame, unknown)


def test_select_drops_columns(raw_frame: pd.DataFrame, config: ProjectConfig) -> None:
    column = next(c for c in raw_frame.columns if c not in (config.data.target,))
    selected, dropped = select(raw_frame, override(config, data={"drop_columns": [column]}))
    assert column not in selected.columns
    assert list(selected.columns) == [c for c in raw_frame.columns if c != column]
    assert dropped == 0 or config.data.missing_target == "drop"


@pytest.mark.parametrize("policy", ["error", "drop"])
def test_rows_without_a_target(frame: pd.DataFrame, config: ProjectConfig, policy: str) -> None:
    gappy = frame.copy()
    gappy.loc[gappy.index[:3], config.data.target] = None
    chosen = override(config, data={"missing_target": policy, "drop_columns": []})
    if policy == "error":
        with pytest.raises(DataValidationError, match="3 rows have no target value"):
            select(gappy, chosen)
        return
    kept, dropped = select(gappy, chosen)
    assert (len(kept), dropped) == (len(frame) - 3, 3)
    assert kept[config.data.target].dtype == frame[config.data.target].dtype


def test_unknown_sources_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="data.source: unknown bundled dataset"):
        load_source("sklearn:iris_typo", "target")
    with pytest.raises(DataValidationError, match="data.source: file"):
        load_source(str(tmp_path / "missing.csv"), "target")
    (tmp_path / "rows.json").write_text("[]")
    with pytest.raises(DataValidationError, match=r"data.source: .*rows.json' is not a .csv or"):
        load_source(str(tmp_path / "rows.json"), "target")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(DataValidationError, match="is not readable Parquet"):
        load_source(str(tmp_path / "broken.parquet"), "target")
    (tmp_path / "broken.csv").write_bytes(b'a,b\n1,"2\n')
    with pytest.raises(DataValidationError, match="is not readable CSV"):
        load_source(str(tmp_path / "broken.csv"), "target")


def test_file_sources_must_sit_in_data_external(project_dir: Path, config: ProjectConfig) -> None:
    (project_dir / "elsewhere.csv").write_text("a,b\n1,2\n")
    elsewhere = override(config, data={"source": "elsewhere.csv"})
    with pytest.raises(DataValidationError, match="is not in data/external/"):
        fetch(elsewhere)
    assert not (project_dir / config.data.raw_path).exists()


def test_steps_out_of_order_name_the_step_to_run(project_dir: Path, config: ProjectConfig) -> None:
    with pytest.raises(PipelineError, match="data.raw_path: .* not found; run the data step first"):
        prepare(config)
    with pytest.raises(PipelineError, match="not found; run the prepare step first"):
        load_split(config, "train")


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
    metrics = project_dir / config.artifacts.metrics_dir / DATA_METRICS_FILE
    summary = json.loads(metrics.read_text())
    used = summary["rows_train"] + summary["rows_test"]
    assert used + summary["rows_dropped_missing_target"] == summary["rows_raw"]
    assert summary["features"] == len(schema.features)
    assert summary.get("positive_class") == schema.positive_class


def own_table(rows: int = 240) -> pd.DataFrame:
    """A table like a team's: an id, an integer, a category with gaps, a flag, a text."""
    rng = np.random.default_rng(0)
    tenure = rng.integers(1, 60, rows)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + rows),
            "tenure": tenure,
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "autopay": rng.choice([True, False], rows),
            OWN_TARGET: own_target(tenure, rng),
        }
    )
    frame.loc[3, "plan"] = None
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_own_table_with_ids_flags_and_gaps(
    project_dir: Path, config: ProjectConfig, suffix: str
) -> None:
    source = EXTERNAL_DIR / f"customers{suffix}"
    write_source(own_table(), project_dir / source, config)
    own = override(
        config, data={"source": str(source), "target": OWN_TARGET, "drop_columns": ["customer_id"]}
    )
    fetch(own)
    schema = prepare(own)
    assert [(f.name, f.kind, f.dtype) for f in schema.features] == [
        ("tenure", "numeric", "integer"),
        ("plan", "categorical", "string"),
        ("autopay", "categorical", "boolean"),
    ]
    assert schema.features[2].categories == ["False", "True"]
    assert schema.model_dump(include={"classes", "positive_class"}) == OWN_TARGET_FIELDS
    features = pd.concat([load_split(own, "train")[0], load_split(own, "test")[0]])
    assert all(isinstance(value, str) for value in features["plan"])
    assert MISSING_CATEGORY in set(features["plan"])
    assert set(features["autopay"]) == {"False", "True"}
    assert "customer_id" not in features.columns


def test_infer_schema_keeps_integer_and_boolean_types() -> None:
    frame = own_table(60)
    schema = infer_schema(frame.drop(columns="customer_id"), OWN_TARGET)
    assert {f.name: f.dtype for f in schema.features} == {
        "tenure": "integer", "plan": "string", "autopay": "boolean",
    }
