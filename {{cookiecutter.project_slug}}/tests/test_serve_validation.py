"""API tests of bad input: every kind of bad /predict request is refused, named and counted.

A body the request model refuses is a 422 whose detail names the field and the rule, and
moves the validation error counter; malformed JSON is a 400. Values keep the types they had
in training: an integer field takes 3 and 3.0 but not 2.5, True or "3"; no coercion in
either direction. Features and values come from the schema, never from names of the
bundled data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.schema import DatasetSchema, Feature

from data_support import request_records
from service_support import Bundle, Record, samples
from store_support import misnamed_records_error
from task_support import assert_answers

NUMERIC, CATEGORICAL = ("float", "integer"), ("boolean", "string")
# pydantic's message for a value of the wrong JSON type, by the feature's type.
TYPE_ERRORS = {
    "float": "Input should be a valid number",
    "integer": "Input should be a valid integer",
    "boolean": "Input should be a valid boolean",
    "string": "Input should be a valid string",
}
NOT_A_FEATURE = "not a feature"


def errors_counted(client: TestClient, reason: str) -> float:
    return samples(client).get(("model_request_errors_total", (("reason", reason),)), 0.0)


def feature_of(schema: DatasetSchema, dtypes: tuple[str, ...]) -> Feature:
    """The first feature of one of ``dtypes``; the test is skipped if the data has none."""
    found = [feature for feature in schema.features if feature.dtype in dtypes]
    if not found:
        pytest.skip(f"the data has no {' or '.join(dtypes)} feature")
    return found[0]


def changed(record: Record, **values: Any) -> Record:
    return {**record, **values}


def post_json(client: TestClient, body: Any) -> Any:
    """POST /predict with a body json.dumps writes as it is (NaN, Infinity included)."""
    content = json.dumps(body)
    return client.post("/predict", content=content, headers={"content-type": "application/json"})


def drop(record: Record, schema: DatasetSchema) -> tuple[dict[str, Any], str]:
    name = schema.features[0].name
    rest = {key: value for key, value in record.items() if key != name}
    return {"records": [rest]}, f"records.0.{name}: Field required"


def unknown(record: Record, schema: DatasetSchema) -> tuple[dict[str, Any], str]:
    assert NOT_A_FEATURE not in schema.names()
    body = {"records": [{**record, NOT_A_FEATURE: 1.0}]}
    return body, f"records.0.{NOT_A_FEATURE}: Extra inputs are not permitted"


def text_for_number(record: Record, schema: DatasetSchema) -> tuple[dict[str, Any], str]:
    feature = feature_of(schema, NUMERIC)
    body = {"records": [changed(record, **{feature.name: "1"})]}
    return body, f"records.0.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def boolean_for_number(record: Record, schema: DatasetSchema) -> tuple[dict[str, Any], str]:
    feature = feature_of(schema, NUMERIC)
    body = {"records": [changed(record, **{feature.name: True})]}
    return body, f"records.0.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def number_for_category(record: Record, schema: DatasetSchema) -> tuple[dict[str, Any], str]:
    feature = feature_of(schema, CATEGORICAL)
    body = {"records": [changed(record, **{feature.name: 1})]}
    return body, f"records.0.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def list_in_second(record: Record, schema: DatasetSchema) -> tuple[dict[str, Any], str]:
    feature = schema.features[-1]
    body = {"records": [record, changed(record, **{feature.name: [1]})]}
    return body, f"records.1.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def no_records(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    return {"records": []}, "records: List should have at least 1 item after validation, not 0"


def too_many(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    expected = "records: List should have at most 256 items after validation, not 257"
    return {"records": [record] * 257}, expected


def wrong_key(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    return {"rows": [record]}, misnamed_records_error("rows")


def not_an_object(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    return [record], "body: Input should be a valid dictionary or object to extract fields from"


BAD_BODIES: list[Callable[[Record, DatasetSchema], tuple[Any, str]]] = [
    drop, unknown, text_for_number, boolean_for_number, number_for_category, list_in_second,
    no_records, too_many, wrong_key, not_an_object,
]


@pytest.mark.parametrize("bad", BAD_BODIES, ids=[bad.__name__ for bad in BAD_BODIES])
def test_bad_predict_requests_are_422(client: TestClient, known, schema, bad) -> None:
    body, expected = bad(known[0], schema)
    before = errors_counted(client, "validation")
    response = client.post("/predict", json=body)
    assert (response.status_code, response.json()) == (422, {"detail": expected})
    assert errors_counted(client, "validation") == before + 1


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["NaN", "inf", "-inf"])
def test_non_finite_numbers_are_422(client: TestClient, known, schema, value: float) -> None:
    feature = feature_of(schema, NUMERIC)
    response = post_json(client, {"records": [changed(known[0], **{feature.name: value})]})
    finite = "Input should be a finite number"
    message = finite if feature.dtype == "float" else TYPE_ERRORS["integer"]
    expected = {"detail": f"records.0.{feature.name}: {message}"}
    assert (response.status_code, response.json()) == (422, expected)


VALUES = [
    ("float", 3, None),
    ("float", 2.5, None),
    ("float", True, TYPE_ERRORS["float"]),
    ("float", "2.5", TYPE_ERRORS["float"]),
    ("integer", 3, None),
    ("integer", 3.0, None),  # the same number in JSON
    ("integer", 2.5, TYPE_ERRORS["integer"]),
    ("integer", True, TYPE_ERRORS["integer"]),
    ("integer", "3", TYPE_ERRORS["integer"]),
    ("integer", 10**30, None),
    ("integer", 10**309, "integers must be at most 1.798e+308 in size"),
    ("boolean", False, None),
    ("boolean", 1, TYPE_ERRORS["boolean"]),
    ("boolean", "true", TYPE_ERRORS["boolean"]),
    ("string", "seen", None),
    ("string", 1, TYPE_ERRORS["string"]),
    ("string", True, TYPE_ERRORS["string"]),
]


@pytest.mark.parametrize(("dtype", "value", "error"), VALUES)
def test_values_keep_their_training_types(typed_client, typed: Bundle, dtype, value, error):
    """Integers stay integers, booleans booleans: no coercion in either direction."""
    feature = feature_of(typed.schema, (dtype,))
    value = feature.categories[0] if value == "seen" else value
    record = changed(request_records(typed.rows.head(1), typed.schema)[0], **{feature.name: value})
    response = typed_client.post("/predict", json={"records": [record]})
    if error is None:
        assert response.status_code == 200, response.json()
        assert_answers(response.json(), typed.pipeline, typed.schema, pd.DataFrame([record]))
    else:
        expected = {"detail": f"records.0.{feature.name}: {error}"}
        assert (response.status_code, response.json()) == (422, expected)


def test_malformed_json_is_400(client: TestClient) -> None:
    before = errors_counted(client, "malformed_json")
    response = client.post(
        "/predict", content='{"records": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert errors_counted(client, "malformed_json") == before + 1
