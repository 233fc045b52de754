"""The ONNX twin must answer like the scikit-learn pipeline it was converted from, on
records as the service receives them: each feature in its JSON type, None when missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.data import infer_schema
from {{ cookiecutter.package_name }}.model_io import to_onnx
from {{ cookiecutter.package_name }}.predictors import OnnxPredictor, SklearnPredictor
from {{ cookiecutter.package_name }}.schema import DatasetSchema, to_features
from {{ cookiecutter.package_name }}.train import build_pipeline

from data_support import mixed_frame, model_outputs, request_records, with_gaps
from task_support import ONNX_TOLERANCE


def predictors(pipeline: Pipeline, schema: DatasetSchema) -> tuple[SklearnPredictor, OnnxPredictor]:
    return SklearnPredictor(pipeline, schema), OnnxPredictor(to_onnx(pipeline, schema), schema)


def assert_all_answer_alike(
    pipeline: Pipeline, schema: DatasetSchema, rows: pd.DataFrame, records: list[dict[str, Any]]
) -> None:
    """Both predictors on ``records`` answer as the pipeline on ``to_features(rows)``."""
    expected = model_outputs(pipeline, to_features(rows, schema))
    sklearn, onnx = predictors(pipeline, schema)
    np.testing.assert_allclose(sklearn.outputs(records), expected, rtol=1e-12, atol=1e-12)
    served = onnx.outputs(records)
    assert onnx.classes == sklearn.classes == schema.classes
    assert served.shape == expected.shape
    np.testing.assert_allclose(served, expected, rtol=ONNX_TOLERANCE, atol=ONNX_TOLERANCE)
    if schema.classes is not None:  # probabilities of every class, per record
        assert served.shape == (len(records), len(schema.classes))
        np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)


def test_onnx_matches_sklearn_on_held_out_data(fitted_pipeline, schema, splits) -> None:
    rows = splits[1]
    assert_all_answer_alike(fitted_pipeline, schema, rows, request_records(rows, schema))
    onnx = OnnxPredictor(to_onnx(fitted_pipeline, schema), schema)
    # All-numeric models take one feature matrix; categories need one input per column.
    assert onnx.matrix == (not schema.names("categorical"))


def test_missing_values_are_imputed_as_in_training(fitted_pipeline, schema, splits) -> None:
    rows = with_gaps(splits[1].head(50), schema)
    records = request_records(rows, schema)
    assert all(value is None for value in records[-1].values())
    assert_all_answer_alike(fitted_pipeline, schema, rows, records)


def test_every_feature_type_and_unseen_categories(config) -> None:
    frame = mixed_frame()
    schema = infer_schema(frame, "target")
    assert [f.dtype for f in schema.features] == ["float", "integer", "boolean", "string"]
    pipeline = build_pipeline(config, schema).fit(to_features(frame, schema), frame["target"])
    rows = pd.concat(
        [with_gaps(frame.head(40), schema), frame.head(2).assign(plan="never seen")],
        ignore_index=True,
    )
    records = request_records(rows, schema)
    for name, kind in {"amount": float, "visits": int, "member": bool, "plan": str}.items():
        assert {type(r[name]) for r in records if r[name] is not None} == {kind}, name
    assert_all_answer_alike(pipeline, schema, rows, records)
    assert not predictors(pipeline, schema)[1].matrix
