"""Model tests: output shapes, model files, every algorithm, and the configured quality bar.

What a model's outputs must look like depends on the problem type: test_task.
"""

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
from {{ cookiecutter.package_name }}.evaluate import check_gate
from {{ cookiecutter.package_name }}.model_io import (
    MLMODEL_FILE,
    load_model,
    model_file,
    save_model,
    to_onnx,
)
from {{ cookiecutter.package_name }}.predictors import OnnxPredictor
from {{ cookiecutter.package_name }}.schema import DatasetSchema
from {{ cookiecutter.package_name }}.task import compute_metrics, fit_baseline
from {{ cookiecutter.package_name }}.train import build_pipeline

from data_support import model_outputs, rows_of
from shared_fixtures import Labelled, QUICK_SETTINGS, override
from task_support import ONNX_TOLERANCE


def test_prediction_shape(fitted_pipeline: Pipeline, held_out: Labelled) -> None:
    features, _ = held_out
    assert fitted_pipeline.predict(features).shape == (len(features),)


def test_held_out_performance_passes_the_gate(
    fitted_pipeline: Pipeline,
    held_out: Labelled,
    training: Labelled,
    schema: DatasetSchema,
    config: ProjectConfig,
) -> None:
    """The configured gate: beat the feature-blind baseline, meet any optional thresholds."""
    metrics = compute_metrics(fitted_pipeline, *held_out, schema)
    baseline = compute_metrics(fit_baseline(*training), *held_out, schema)
    check_gate(metrics, baseline, config.evaluation)


def test_model_file_round_trip(
    tmp_path: Path, fitted_pipeline: Pipeline, held_out: Labelled
) -> None:
    features, _ = held_out
    path = tmp_path / "model.skops"
    save_model(fitted_pipeline, path)
    reloaded = load_model(path)
    np.testing.assert_array_equal(
        model_outputs(reloaded, features), model_outputs(fitted_pipeline, features)
    )


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
    algorithm: str,
    config: ProjectConfig,
    schema: DatasetSchema,
    training: Labelled,
    held_out: Labelled,
    tmp_path: Path,
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
    records = rows_of(features)
    onnx = OnnxPredictor(to_onnx(pipeline, schema), schema)
    expected = model_outputs(reloaded, features)
    np.testing.assert_allclose(
        onnx.outputs(records), expected, rtol=ONNX_TOLERANCE, atol=ONNX_TOLERANCE
    )
