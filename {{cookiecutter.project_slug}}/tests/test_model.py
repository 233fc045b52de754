"""Model tests: output shapes, valid probabilities, and the configured quality bar."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.package_name }}.config import ProjectConfig
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.evaluate import check_thresholds, compute_metrics
from {{ cookiecutter.package_name }}.model_io import load_model, save_model
from {{ cookiecutter.package_name }}.train import build_pipeline, cross_validate_pipeline


def test_prediction_shape(fitted_pipeline: Pipeline, held_out) -> None:
    features, _ = held_out
    assert fitted_pipeline.predict(features).shape == (len(features),)


def test_probabilities_are_valid(fitted_pipeline: Pipeline, held_out, schema) -> None:
    features, _ = held_out
    proba = fitted_pipeline.predict_proba(features)
    assert proba.shape == (len(features), len(schema.classes))
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_predicts_only_known_classes(fitted_pipeline: Pipeline, held_out, schema) -> None:
    features, _ = held_out
    assert set(fitted_pipeline.predict(features)) <= set(schema.classes)


def test_held_out_performance_meets_thresholds(
    fitted_pipeline: Pipeline, held_out, config: ProjectConfig
) -> None:
    metrics = compute_metrics(fitted_pipeline, *held_out)
    check_thresholds(metrics, config.evaluation.thresholds)


def test_cross_validation_reports_mean_and_spread(config, schema, splits) -> None:
    train = splits[0]
    metrics = cross_validate_pipeline(
        build_pipeline(config, schema), train[schema.names()], train[schema.target], config
    )
    assert set(metrics) == {
        f"cv_{name}_{stat}" for name in ("accuracy", "f1", "roc_auc") for stat in ("mean", "std")
    }
    assert 0.5 < metrics["cv_roc_auc_mean"] <= 1.0


def test_model_file_round_trip(tmp_path: Path, fitted_pipeline: Pipeline, held_out) -> None:
    features, _ = held_out
    path = tmp_path / "model.skops"
    save_model(fitted_pipeline, path)
    reloaded = load_model(path)
    np.testing.assert_array_equal(
        reloaded.predict_proba(features), fitted_pipeline.predict_proba(features)
    )


def test_model_file_with_untrusted_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    save_model(Pipeline([("shell", FunctionTransformer(os.system))]), path)
    with pytest.raises(PipelineError, match="refusing to load"):
        load_model(path)


def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="run the train step first"):
        load_model(tmp_path / "model.skops")
