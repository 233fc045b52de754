"""The ONNX twin must answer like the scikit-learn pipeline it was converted from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.data import infer_schema, to_features
from {{ cookiecutter.package_name }}.model_io import OnnxPredictor, SklearnPredictor, to_onnx
from {{ cookiecutter.package_name }}.train import build_pipeline

from conftest import ONNX_TOLERANCE
{%- set classification = cookiecutter.problem_type == "classification" %}
{%- set predict = "predict_proba" if classification else "predict" %}
{%- set tolerance = "atol" if classification else "rtol" %}


def test_onnx_matches_sklearn_on_held_out_data(fitted_pipeline, schema, held_out) -> None:
    features, _ = held_out
    records = features.to_dict(orient="records")
    sklearn = SklearnPredictor(fitted_pipeline, schema)
    onnx = OnnxPredictor(to_onnx(fitted_pipeline, schema), schema)
    expected = sklearn.{{ predict }}(records)
    served = onnx.{{ predict }}(records)
    assert onnx.matrix, "an all-numeric model takes one feature matrix"
{%- if classification %}
    assert onnx.classes == sklearn.classes
    np.testing.assert_array_equal(served.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(served, expected, atol=ONNX_TOLERANCE)
    np.testing.assert_array_equal(
        np.array(sklearn.classes)[served.argmax(axis=1)], fitted_pipeline.predict(features)
    )
{%- else %}
    assert served.shape == (len(records),)
    np.testing.assert_allclose(served, expected, rtol=ONNX_TOLERANCE)
    np.testing.assert_allclose(expected, fitted_pipeline.predict(features))
{%- endif %}


def test_onnx_handles_categorical_features(config) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(30, 10, 300),
            "plan": rng.choice(["basic", "plus", "pro", None], 300),
            "target": {{ "rng.integers(0, 2, 300)" if classification else "rng.normal(100, 20, 300)" }},
        }
    )
    schema = infer_schema(frame, "target")
    features = to_features(frame, schema)
    pipeline = build_pipeline(config, schema).fit(features, frame["target"])
    records = features.to_dict(orient="records") + [{"tenure": 12.0, "plan": "unseen"}]
    expected = SklearnPredictor(pipeline, schema).{{ predict }}(records)
    onnx = OnnxPredictor(to_onnx(pipeline, schema), schema)
    assert not onnx.matrix, "categories need one string input per column"
    served = onnx.{{ predict }}(records)
    np.testing.assert_allclose(served, expected, {{ tolerance }}=ONNX_TOLERANCE)
