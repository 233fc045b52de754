"""API tests of the answers: /predict scores as the fitted pipeline does.

One record or a full batch, gaps imputed as in training, every feature type, unseen
categories (answered, warned about and counted), and the scikit-learn fallback serving what
ONNX serves. Nothing here names a column, a type or a class of the project's data:
features, values and labels come from the schema and the splits, so the tests pass
unchanged on any data. Checks that need a feature of every type run on the ``typed``
bundle (shared_fixtures): the project's own when its data has one of each, else one trained on a
small mixed frame. Bad requests are test_serve_validation's; health, metadata, metrics
and drift test_serve_status's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.schema import DatasetSchema

from data_support import request_records, with_gaps
from service_support import Bundle, Record, moved, samples, serve
from task_support import ONNX_TOLERANCE, assert_answers, served_answer


def unseen_warnings(records: list[Record], schema: DatasetSchema) -> list[str]:
    """What the service must warn about: category values absent from the schema."""
    return [
        f"records.{index}.{f.name}: category {record[f.name]!r} was not seen in training"
        for index, record in enumerate(records)
        for f in schema.features
        if f.kind == "categorical"
        and record[f.name] is not None
        and str(record[f.name]) not in f.categories
    ]


def test_predict_one_record(client, known, splits, fitted_pipeline, schema) -> None:
    response = client.post("/predict", json={"records": known[:1]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "test-model", "version": "7"}
    assert len(body["request_id"]) == 32
    assert body["warnings"] == []
    assert len(body["predictions"]) == 1
    assert_answers(body, fitted_pipeline, schema, splits[0].head(1))


def test_predict_batch_matches_the_pipeline(client, records, rows, fitted_pipeline, schema) -> None:
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == len(records)
    assert body["warnings"] == unseen_warnings(records, schema)
    assert_answers(body, fitted_pipeline, schema, rows)


@pytest.mark.parametrize("prefer_onnx", [True, False], ids=["onnx", "sklearn"])
def test_nulls_are_imputed_as_in_training(
    serving_bundle, prefer_onnx, rows, fitted_pipeline, schema
) -> None:
    gapped = with_gaps(rows.head(30), schema)
    records = request_records(gapped, schema)
    assert all(value is None for value in records[-1].values())
    with serve(serving_bundle, prefer_onnx) as client:
        response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.json()
    assert_answers(response.json(), fitted_pipeline, schema, gapped)


@pytest.mark.parametrize("prefer_onnx", [True, False], ids=["onnx", "sklearn"])
def test_every_type_and_gap_answers_as_the_pipeline(typed: Bundle, prefer_onnx: bool) -> None:
    """Booleans reach the model as the strings training gave it, None as its imputed value."""
    gapped = with_gaps(typed.rows.head(40), typed.schema)
    with serve(typed.path, prefer_onnx) as client:
        body = client.post("/predict", json={"records": request_records(gapped, typed.schema)})
    assert body.status_code == 200, body.json()
    assert_answers(body.json(), typed.pipeline, typed.schema, gapped)


def test_unseen_categories_are_answered_warned_and_counted(typed_client, typed: Bundle) -> None:
    strings = [f.name for f in typed.schema.features if f.dtype == "string"]
    rows = typed.rows[typed.schema.names()].head(3).copy()
    rows.loc[rows.index[0], strings] = [f"new {name}" for name in strings]
    rows.loc[rows.index[1], strings] = None  # missing, not unseen
    rows.loc[rows.index[2], strings[0]] = "another new one"
    records = request_records(rows, typed.schema)
    before = samples(typed_client)
    response = typed_client.post("/predict", json={"records": records})
    after = samples(typed_client)
    body = response.json()
    assert body["warnings"] == [
        *(f"records.0.{name}: category 'new {name}' was not seen in training" for name in strings),
        f"records.2.{strings[0]}: category 'another new one' was not seen in training",
    ]
    assert body["warnings"] == unseen_warnings(records, typed.schema)
    for name in typed.schema.names("categorical"):
        count = 2 if name == strings[0] else int(name in strings)
        assert moved(after, before, "model_unseen_categories_total", feature=name) == count
    assert_answers(body, typed.pipeline, typed.schema, rows)


def test_sklearn_fallback_serves_the_same_answers(serving_bundle: Path, rows, schema) -> None:
    records = request_records(with_gaps(rows.head(20), schema), schema)
    answers = {}
    for prefer_onnx in (False, True):
        with serve(serving_bundle, prefer_onnx) as client:
            runtime = client.get("/metadata").json()["runtime"]
            answers[runtime] = client.post("/predict", json={"records": records}).json()
    assert set(answers) == {"sklearn", "onnxruntime"}
    slow, quick = (served_answer(answers[r], schema) for r in ("sklearn", "onnxruntime"))
    np.testing.assert_allclose(quick, slow, atol=ONNX_TOLERANCE, rtol=ONNX_TOLERANCE)
