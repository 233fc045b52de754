"""Drift tests: the KS / chi-squared + PSI rule, the reports, the batch step, the live window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import MonitoringSection, ProjectConfig
from {{ cookiecutter.package_name }}.data import fetch, prepare
from {{ cookiecutter.package_name }}.errors import DataValidationError
from {{ cookiecutter.package_name }}.monitor import (
    LiveDriftMonitor,
    detect_drift,
    population_stability_index,
    run,
)
from {{ cookiecutter.package_name }}.schema import DatasetSchema, Feature

SHIFTED = "{{ 'mean radius' if cookiecutter.problem_type == 'classification' else 'bmi' }}"


def shifted(frame: pd.DataFrame, reference: pd.DataFrame, name: str = SHIFTED) -> pd.DataFrame:
    """A copy of ``frame`` with one numeric feature moved up by 3 reference standard deviations."""
    moved = frame.copy()
    moved[name] = moved[name] + 3 * reference[name].std()
    return moved


def test_same_distribution_does_not_drift(splits, schema, config: ProjectConfig) -> None:
    train, test = splits
    report = detect_drift(train, test, schema, config.monitoring)
    assert not report.detected
    assert report.drifted == []
    assert [f.name for f in report.features] == schema.names()
    assert {f.test for f in report.features} == {"ks"}
    assert (report.n_reference, report.n_current) == (len(train), len(test))


def test_shifted_numeric_feature_drifts_alone(splits, schema, config: ProjectConfig) -> None:
    train, test = splits
    report = detect_drift(train, shifted(test, train), schema, config.monitoring)
    assert report.detected
    assert report.drifted == [SHIFTED]
    feature = next(f for f in report.features if f.name == SHIFTED)
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
{%- if cookiecutter.problem_type == "classification" %}
        classes=[0, 1],
{%- endif %}
        features=[
            Feature(name="color", kind="categorical", categories=sorted(colors)),
            Feature(name="shape", kind="categorical", categories=sorted(shapes)),
            Feature(name="unit", kind="categorical", categories=["cm"]),
            Feature(name="size", kind="numeric"),
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


def test_psi_is_zero_for_identical_data(splits) -> None:
    values = splits[0][SHIFTED]
    assert population_stability_index(values, values, 10) == 0.0
    labels = pd.Series(["a", "b", "b", "c"])
    assert population_stability_index(labels, labels, 10) == 0.0


def test_psi_grows_with_a_shift(splits, config: ProjectConfig) -> None:
    values = splits[0][SHIFTED]
    psi = population_stability_index(values, values + 3 * values.std(), 10)
    assert psi > config.monitoring.psi_threshold


def test_psi_handles_unseen_categories_and_constant_references() -> None:
    reference = pd.Series(["a", "b"] * 50)
    unseen = population_stability_index(reference, pd.Series(["a", "b", "c"] * 30), 10)
    assert np.isfinite(unseen) and unseen > 0.1
    flag = population_stability_index(pd.Series([0.0] * 100), pd.Series([1.0] * 100), 10)
    assert np.isfinite(flag) and flag > 0.1


@pytest.mark.parametrize(("correction", "divided"), [("bonferroni", True), ("none", False)])
def test_alpha_correction(splits, schema, config: ProjectConfig, correction, divided) -> None:
    settings = config.monitoring.model_copy(update={"correction": correction})
    report = detect_drift(*splits, schema, settings)
    expected = settings.p_value / len(schema.features) if divided else settings.p_value
    assert report.alpha == settings.p_value
    assert report.corrected_alpha == pytest.approx(expected)


def test_missing_column_is_named(splits, schema, config: ProjectConfig) -> None:
    train, test = splits
    with pytest.raises(DataValidationError, match=SHIFTED):
        detect_drift(train, test.drop(columns=SHIFTED), schema, config.monitoring)


def test_empty_current_data_is_rejected(splits, schema, config: ProjectConfig) -> None:
    train, test = splits
    with pytest.raises(DataValidationError, match="current data: no rows"):
        detect_drift(train, test.iloc[:0], schema, config.monitoring)


def test_run_writes_json_and_html(project_dir: Path, config: ProjectConfig) -> None:
    fetch(config)
    prepare(config)
    processed = Path(config.data.processed_dir)
    train = pd.read_csv(processed / "train.csv")
    current = project_dir / "current.csv"
    shifted(pd.read_csv(processed / "test.csv"), train).to_csv(current, index=False)

    report = run(config, current)

    assert report.drifted == [SHIFTED]
    out = Path(config.monitoring.report_dir)
    payload = json.loads((out / "drift.json").read_text())
    assert payload["detected"] is True
    assert payload["drifted"] == [SHIFTED]
    assert len(payload["features"]) == len(report.features)
    page = (out / "drift.html").read_text()
    assert SHIFTED in page
    assert f'<tr class="drifted"><td>{SHIFTED}</td>' in page
    assert "Drift in 1 of {{ 30 if cookiecutter.problem_type == "classification" else 10 }} features" in page


def test_run_names_a_missing_current_file(project_dir: Path, config: ProjectConfig) -> None:
    fetch(config)
    prepare(config)
    with pytest.raises(DataValidationError, match="nowhere.csv"):
        run(config, project_dir / "nowhere.csv")


@pytest.fixture
def live_settings(config: ProjectConfig) -> MonitoringSection:
    """A window smaller than the test split, so one split can fill it."""
{%- if cookiecutter.problem_type == "classification" %}
    return config.monitoring.model_copy(update={"window_size": 100, "min_window": 50})
{%- else %}
    return config.monitoring.model_copy(update={"window_size": 80, "min_window": 40})
{%- endif %}


def test_live_monitor_window(splits, schema, live_settings: MonitoringSection) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    for index in range(live_settings.min_window - 1):
        monitor.observe(test.iloc[[index]])
    assert monitor.report() is None

    monitor.observe(test.iloc[live_settings.min_window - 1:])
    calm = monitor.report()
    assert calm is not None and not calm.detected
    assert calm.n_current == live_settings.window_size
    assert monitor.report() is calm  # no new rows: the cached report

    monitor.observe(shifted(test, train).iloc[: live_settings.window_size])
    drifted = monitor.report()
    assert drifted is not None and drifted.drifted == [SHIFTED]
    assert drifted.n_current == live_settings.window_size


def test_live_monitor_accepts_records(splits, schema, live_settings) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    monitor.observe(test.to_dict("records"))
    report = monitor.report()
    assert report is not None and not report.detected
    assert report.n_current == live_settings.window_size


def test_live_monitor_rejects_rows_without_features(splits, schema, live_settings) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    incomplete = test.drop(columns=SHIFTED)
    with pytest.raises(DataValidationError, match=SHIFTED):
        monitor.observe(incomplete)
    with pytest.raises(DataValidationError, match=SHIFTED):
        monitor.observe(incomplete.to_dict("records"))
    assert monitor.report() is None


def test_live_monitor_survives_an_untestable_window(splits, schema, live_settings) -> None:
    train, test = splits
    monitor = LiveDriftMonitor(train, schema, live_settings)
    monitor.observe(test.assign(**{SHIFTED: np.nan}))
    assert monitor.report() is None  # every recent value of one feature is missing
    monitor.observe(test)
    report = monitor.report()
    assert report is not None and not report.detected
