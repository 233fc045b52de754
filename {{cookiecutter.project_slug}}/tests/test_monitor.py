"""Drift tests: the KS / chi-squared + PSI rule, the reports, the batch step, the live window."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import MonitoringSection, ProjectConfig
from {{ cookiecutter.package_name }}.data import fetch, prepare
from {{ cookiecutter.package_name }}.drift_stats import population_stability_index
from {{ cookiecutter.package_name }}.errors import DataValidationError
from {{ cookiecutter.package_name }}.live_drift import LiveDriftMonitor
from {{ cookiecutter.package_name }}.monitor import DriftReport, detect_drift, run
from {{ cookiecutter.package_name }}.schema import DatasetSchema, Feature

from data_support import drift_candidate, rows_of, shifted
from shared_fixtures import Splits


def test_same_distribution_does_not_drift(splits: Splits, schema, config: ProjectConfig) -> None:
    train, test = splits
    report = detect_drift(train, test, schema, config.monitoring)
    assert not report.detected
    assert report.drifted == []
    assert [f.name for f in report.features] == schema.names()
    tests = {"numeric": "ks", "categorical": "chi2"}
    assert [f.test for f in report.features] == [tests[f.kind] for f in schema.features]
    assert (report.n_reference, report.n_current) == (len(train), len(test))


def test_shifted_feature_drifts_alone(splits: Splits, schema, drift_feature, config) -> None:
    train, test = splits
    report = detect_drift(train, shifted(test, train, drift_feature), schema, config.monitoring)
    assert report.detected
    assert report.drifted == [drift_feature.name]
    feature = next(f for f in report.features if f.name == drift_feature.name)
    assert feature.p_value < report.corrected_alpha
    assert feature.psi >= config.monitoring.psi_threshold


def categorical_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, DatasetSchema]:
    """Reference data, current data where only ``color`` changes its mix, and a fresh
    sample from the reference distribution."""
    rng = np.random.default_rng(0)
    colors, shapes = ["red", "green", "blue"], ["round", "square"]

    def frame(n: int, color_mix: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "color": rng.choice(colors, size=n, p=color_mix),
                "shape": rng.choice(shapes, size=n, p=[0.6, 0.4]),
                "unit": "cm",
                "size": rng.normal(10.0, 2.0, size=n),
            }
        )

    schema = DatasetSchema(
        target="label",
        features=[
            Feature(name="color", kind="categorical", dtype="string", categories=sorted(colors)),
            Feature(name="shape", kind="categorical", dtype="string", categories=sorted(shapes)),
            Feature(name="unit", kind="categorical", dtype="string", categories=["cm"]),
            Feature(name="size", kind="numeric", dtype="float"),
        ],
    )
    reference_mix = [0.5, 0.3, 0.2]
    return (
        frame(2000, reference_mix),
        frame(1000, [0.2, 0.3, 0.5]),
        frame(1000, reference_mix),
        schema,
    )


def test_changed_category_mix_drifts(config: ProjectConfig) -> None:
    reference, current, _, schema = categorical_frames()
    report = detect_drift(reference, current, schema, config.monitoring)
    assert report.drifted == ["color"]
    by_name = {f.name: f for f in report.features}
    assert by_name["color"].test == "chi2"
    assert by_name["shape"].test == "chi2" and not by_name["shape"].drifted
    assert by_name["unit"].p_value == 1.0  # a single category cannot shift
    assert by_name["size"].test == "ks"


def test_unchanged_categories_do_not_drift(config: ProjectConfig) -> None:
    reference, _, same, schema = categorical_frames()
    report = detect_drift(reference, same, schema, config.monitoring)
    assert not report.detected
    assert all(f.psi < config.monitoring.psi_threshold for f in report.features)


def test_psi_is_zero_for_identical_data(splits: Splits, drift_feature) -> None:
    values = splits[0][drift_feature.name]
    assert population_stability_index(values, values, 10) == 0.0
    labels = pd.Series(["a", "b", "b", "c"])
    assert population_stability_index(labels, labels, 10) == 0.0


def test_psi_grows_with_a_shift(splits: Splits, drift_feature, config: ProjectConfig) -> None:
    train = splits[0]
    moved = shifted(train, train, drift_feature)[drift_feature.name]
    psi = population_stability_index(train[drift_feature.name], moved, 10)
    assert psi > config.monitoring.psi_threshold


def test_psi_handles_unseen_categories_and_constant_references() -> None:
    reference = pd.Series(["a", "b"] * 50)
    unseen = population_stability_index(reference, pd.Series(["a", "b", "c"] * 30), 10)
    assert np.isfinite(unseen) and unseen > 0.1
    flag = population_stability_index(pd.Series([0.0] * 100), pd.Series([1.0] * 100), 10)
    assert np.isfinite(flag) and flag > 0.1


@pytest.mark.parametrize(("correction", "divided"), [("bonferroni", True), ("none", False)])
def test_alpha_correction(
    splits: Splits, schema, config: ProjectConfig, correction, divided
) -> None:
    settings = config.monitoring.model_copy(update={"correction": correction})
    report = detect_drift(*splits, schema, settings)
    expected = settings.p_value / len(schema.features) if divided else settings.p_value
    assert report.alpha == settings.p_value
    assert report.corrected_alpha == pytest.approx(expected)


def test_missing_column_is_named(splits: Splits, schema, drift_feature, config) -> None:
    train, test = splits
    name = drift_feature.name
    with pytest.raises(DataValidationError, match=re.escape(f"missing feature columns ['{name}']")):
        detect_drift(train, test.drop(columns=name), schema, config.monitoring)


def test_empty_current_data_is_rejected(splits: Splits, schema, config: ProjectConfig) -> None:
    train, test = splits
    with pytest.raises(DataValidationError, match="current data: no rows"):
        detect_drift(train, test.iloc[:0], schema, config.monitoring)


def test_run_writes_json_and_html(project_dir: Path, config: ProjectConfig) -> None:
    fetch(config)
    schema = prepare(config)
    processed = Path(config.data.processed_dir)
    train = pd.read_csv(processed / "train.csv")
    feature = drift_candidate(schema, train)
    current = project_dir / "current.parquet"
    shifted(pd.read_csv(processed / "test.csv"), train, feature).to_parquet(current)

    report = run(config, current)

    assert report.drifted == [feature.name]
    out = Path(config.monitoring.report_dir)
    payload = json.loads((out / "drift.json").read_text())
    assert payload["detected"] is True
    assert payload["drifted"] == [feature.name]
    assert len(payload["features"]) == len(report.features) == len(schema.features)
    page = (out / "drift.html").read_text()
    assert f'<tr class="drifted"><td>{html.escape(feature.name)}</td>' in page
    assert f"Drift in 1 of {len(schema.features)} features" in page


def test_run_names_a_missing_current_file(project_dir: Path, config: ProjectConfig) -> None:
    fetch(config)
    prepare(config)
    with pytest.raises(DataValidationError, match="nowhere.csv"):
        run(config, project_dir / "nowhere.csv")


@pytest.fixture
def live_settings(config: ProjectConfig, splits: Splits) -> MonitoringSection:
    """A window the test split can fill: at most 100 rows, tested from half of it."""
    window = min(100, len(splits[1]))
    return config.monitoring.model_copy(update={"window_size": window, "min_window": window // 2})


def window_report(monitor: LiveDriftMonitor) -> DriftReport | None:
    """What the service's drift worker computes: the baseline's report of a window copy."""
    window = monitor.window()
    assert window is not None, "the window is not full enough to test"
    return monitor.baseline.report(window.rows)


def test_live_monitor_window(splits: Splits, schema, drift_feature, live_settings) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    for index in range(live_settings.min_window - 1):
        monitor.observe(test.iloc[[index]])
    assert monitor.window() is None

    monitor.observe(test.iloc[live_settings.min_window - 1:])
    calm = window_report(monitor)
    assert calm is not None and not calm.detected
    assert calm.n_current == live_settings.window_size
    window, again = monitor.window(), monitor.window()
    assert window is not None and window.observed == len(test)
    assert again == window  # no new rows: the worker sees nothing to recompute

    monitor.observe(shifted(test, train, drift_feature).iloc[: live_settings.window_size])
    window = monitor.window()
    assert window is not None and window.observed == len(test) + live_settings.window_size
    assert len(window.rows) == live_settings.window_size  # only the most recent rows
    drifted = monitor.baseline.report(window.rows)
    assert drifted is not None and drifted.drifted == [drift_feature.name]
    assert drifted.n_current == live_settings.window_size


def test_live_monitor_accepts_records(splits: Splits, schema, live_settings) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    monitor.observe(rows_of(test))
    report = window_report(monitor)
    assert report is not None and not report.detected
    assert report.n_current == live_settings.window_size


def test_live_monitor_rejects_rows_without_features(splits: Splits, schema, live_settings) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    name = schema.names()[0]
    incomplete = test.drop(columns=name)
    with pytest.raises(DataValidationError, match=re.escape(repr(name))):
        monitor.observe(incomplete)
    with pytest.raises(DataValidationError, match=re.escape(repr(name))):
        monitor.observe(rows_of(incomplete))
    assert monitor.window() is None  # neither call added a row


def test_live_monitor_survives_an_untestable_window(splits: Splits, schema, live_settings) -> None:
    numeric = schema.names("numeric")
    if not numeric:
        pytest.skip("the dataset has no numeric feature (missing categories are a category)")
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    monitor.observe(test.assign(**{numeric[0]: np.nan}))
    assert window_report(monitor) is None  # every recent value of one feature is missing
    monitor.observe(test)
    report = window_report(monitor)
    assert report is not None and not report.detected
