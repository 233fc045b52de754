"""Model tests: output shapes, {{ "valid probabilities" if cookiecutter.problem_type == "classification" else "finite predictions" }}, and the configured quality bar."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.package_name }}.config import ALGORITHMS, NEEDS_SCALING, ProjectConfig
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.evaluate import check_gate, compute_metrics, fit_baseline
from {{ cookiecutter.package_name }}.model_io import (
    MLMODEL_FILE,
    OnnxPredictor,
    load_model,
    model_file,
    save_model,
    to_onnx,
)
from {{ cookiecutter.package_name }}.train import build_pipeline, cross_validate_pipeline

from conftest import ONNX_TOLERANCE, QUICK_SETTINGS, model_outputs, override


def test_prediction_shape(fitted_pipeline: Pipeline, held_out) -> None:
    features, _ = held_out
    assert fitted_pipeline.predict(features).shape == (len(features),)
{%- if cookiecutter.problem_type == "classification" %}


def test_probabilities_are_valid(fitted_pipeline: Pipeline, held_out, schema) -> None:
    features, _ = held_out
    proba = fitted_pipeline.predict_proba(features)
    assert proba.shape == (len(features), len(schema.classes))
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_predicts_only_known_classes(fitted_pipeline: Pipeline, held_out, schema) -> None:
    features, _ = held_out
    assert set(fitted_pipeline.predict(features)) <= set(schema.classes)
    assert list(fitted_pipeline.classes_) == schema.classes
{%- else %}


def test_predictions_are_finite(fitted_pipeline: Pipeline, held_out) -> None:
    features, _ = held_out
    assert np.isfinite(fitted_pipeline.predict(features)).all()


def test_beats_predicting_the_training_mean(fitted_pipeline: Pipeline, held_out, training) -> None:
    """The least a model must do: err less than the constant guess of the training mean."""
    features, target = held_out
    mean = training[1].mean()
    model_error = np.abs(fitted_pipeline.predict(features) - target).mean()
    assert model_error < np.abs(mean - target).mean()
{%- endif %}


def test_held_out_performance_passes_the_gate(
    fitted_pipeline: Pipeline, held_out, training, schema, config: ProjectConfig
) -> None:
    """The configured gate: beat the feature-blind baseline, meet any optional thresholds."""
    metrics = compute_metrics(fitted_pipeline, *held_out, schema)
    baseline = compute_metrics(fit_baseline(*training), *held_out, schema)
    check_gate(metrics, baseline, config.evaluation)


def test_cross_validation_reports_mean_and_spread(config, schema, training) -> None:
    metrics = cross_validate_pipeline(build_pipeline(config, schema), *training, schema, config)
{%- if cookiecutter.problem_type == "classification" %}
    names = (
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
        "average_precision",
    )
    assert set(metrics) == {f"cv_{name}_{stat}" for name in names for stat in ("mean", "std")}
    assert all(np.isfinite(value) for value in metrics.values())  # string labels included
    assert 0.5 < metrics["cv_roc_auc_mean"] <= 1.0
{%- else %}
    assert set(metrics) == {
        f"cv_{name}_{stat}" for name in ("rmse", "mae", "r2") for stat in ("mean", "std")
    }
    # Errors are reported positive, as evaluate reports them; MAE never exceeds RMSE.
    assert 0.0 < metrics["cv_mae_mean"] <= metrics["cv_rmse_mean"]
    assert 0.0 < metrics["cv_r2_mean"] <= 1.0
{%- endif %}


def test_model_file_round_trip(tmp_path: Path, fitted_pipeline: Pipeline, held_out) -> None:
    features, _ = held_out
    path = tmp_path / "model.skops"
    save_model(fitted_pipeline, path)
    reloaded = load_model(path)
{%- if cookiecutter.problem_type == "classification" %}
    np.testing.assert_array_equal(
        reloaded.predict_proba(features), fitted_pipeline.predict_proba(features)
    )
{%- else %}
    np.testing.assert_array_equal(reloaded.predict(features), fitted_pipeline.predict(features))
{%- endif %}


def test_model_file_with_untrusted_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    save_model(Pipeline([("shell", FunctionTransformer(os.system))]), path)
    with pytest.raises(PipelineError, match="refusing to load"):
        load_model(path)


def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="run the train step first"):
        load_model(tmp_path / "model.skops")


def test_model_file_is_the_one_mlmodel_names(tmp_path: Path) -> None:
    (tmp_path / MLMODEL_FILE).write_text(
        "flavors:\n  sklearn:\n    pickled_model: pipeline.v2.skops\n"
    )
    assert model_file(tmp_path) == tmp_path / "pipeline.v2.skops"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "MLmodel: not found; run the export step"),
        ("flavors:\n  python_function: {}\n", "MLmodel: names no scikit-learn model file"),
        ("flavors: [unclosed\n", "MLmodel: names no scikit-learn model file"),
    ],
)
def test_mlmodel_without_a_model_file_is_one_line(tmp_path: Path, content, message) -> None:
    if content is not None:
        (tmp_path / MLMODEL_FILE).write_text(content)
    with pytest.raises(PipelineError, match=re.escape(message)):
        model_file(tmp_path)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_trains_and_exports(
    algorithm: str, config: ProjectConfig, schema, training, held_out, tmp_path: Path
) -> None:
    """Each model the config accepts fits, clears the quality bar, saves and converts.

    Each gets the scaling its generated config uses: trees none, linear models standard.
    (ONNX scales in float32, which can move a value lying exactly on a tree's threshold to
    the other side of it.)
    """
    scaling = "standard" if algorithm in NEEDS_SCALING else "none"
    switched = override(
        config,
        model={"algorithm": algorithm, "hyperparameters": QUICK_SETTINGS[algorithm]},
        preprocessing={"numeric.scaling": scaling},
    )
    pipeline = build_pipeline(switched, schema).fit(*training)
    baseline = compute_metrics(fit_baseline(*training), *held_out, schema)
    check_gate(compute_metrics(pipeline, *held_out, schema), baseline, config.evaluation)

    save_model(pipeline, tmp_path / "model.skops")
    reloaded = load_model(tmp_path / "model.skops")
    features, _ = held_out
    records = features.to_dict(orient="records")
    onnx = OnnxPredictor(to_onnx(pipeline, schema), schema)
    expected = model_outputs(reloaded, features)
    tolerance = {"rtol": ONNX_TOLERANCE, "atol": ONNX_TOLERANCE}
    np.testing.assert_allclose(onnx.outputs(records), expected, **tolerance)
