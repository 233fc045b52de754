"""API tests: every endpoint, every kind of bad input, and the Prometheus metrics.

Nothing here names a column, a type or a class of the project's data: features, values
and labels come from the schema and the splits, so the tests pass unchanged on any data.
Type checks that need a feature of every type run on the project's bundle when its data
has one of each, else on a bundle trained on a small mixed frame.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, get_args

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.data import infer_schema
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.monitor import DriftBaseline
from {{ cookiecutter.package_name }}.schema import DatasetSchema, Dtype, Feature, to_features
from {{ cookiecutter.package_name }}.serving import Settings, create_app
from {{ cookiecutter.package_name }}.serving.service import Service, open_bundle
from {{ cookiecutter.package_name }}.train import build_pipeline

from conftest import (
    BUNDLE_METRICS,
    ONNX_TOLERANCE,
    mixed_frame,
    request_records,
    shifted,
    with_gaps,
    write_bundle,
)
{%- set classification = cookiecutter.problem_type == "classification" %}

Record = dict[str, Any]
NUMERIC, CATEGORICAL = ("float", "integer"), ("boolean", "string")
# pydantic's message for a value of the wrong JSON type, by the feature's type.
TYPE_ERRORS = {
    "float": "Input should be a valid number",
    "integer": "Input should be a valid integer",
    "boolean": "Input should be a valid boolean",
    "string": "Input should be a valid string",
}
NOT_A_FEATURE = "not a feature"
# The held-out metric the bundle carries and the gauge the service exports it as.
HELD_OUT = {{ '("test_accuracy", "model_heldout_accuracy")' if classification else '("test_mae", "model_heldout_mae")' }}


class Bundle(NamedTuple):
    """A serving bundle with what it was built from."""

    path: Path
    schema: DatasetSchema
    pipeline: Pipeline
    rows: pd.DataFrame  # raw rows of its training data


def loaded_service(bundle: Path, **settings: Any) -> Service:
    """A service on ``bundle`` with its model loaded. Its drift worker runs once the app
    starts, but only on request: tests call ``drift.refresh()`` or set ``drift_records``."""
    quiet = {"drift_interval": 3600.0, "drift_records": 10**9}
    configured = Settings(model_path=bundle, **{**quiet, **settings})
    service = Service(configured, open_bundle(configured))
    service.load()
    assert service.load_error is None, service.load_error
    return service


@contextmanager
def serve(bundle: Path, prefer_onnx: bool = True, **settings: Any) -> Iterator[TestClient]:
    """A client of a running app whose service is already loaded: no waiting on /ready."""
    service = loaded_service(bundle, prefer_onnx=prefer_onnx, **settings)
    with TestClient(create_app(service=service)) as client:
        yield client


@pytest.fixture
def client(serving_bundle: Path) -> Iterator[TestClient]:
    with serve(serving_bundle) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def rows(splits, schema: DatasetSchema) -> pd.DataFrame:
    """Held-out rows, at most a full batch of them."""
    return splits[1][schema.names()].head(200)


@pytest.fixture(scope="module")
def records(rows: pd.DataFrame, schema: DatasetSchema) -> list[Record]:
    return request_records(rows, schema)


@pytest.fixture(scope="module")
def known(splits, schema: DatasetSchema) -> list[Record]:
    """Training rows: every category in them is one the model has seen."""
    return request_records(splits[0].head(60), schema)


@pytest.fixture(scope="module")
def typed(
    schema, serving_bundle, fitted_pipeline, splits, config, tmp_path_factory
) -> Bundle:
    """A bundle with a feature of every type: the project's own if its data has one."""
    if {f.dtype for f in schema.features} >= set(get_args(Dtype)):
        return Bundle(serving_bundle, schema, fitted_pipeline, splits[0])
    frame = mixed_frame()
    mixed = infer_schema(frame, "target")
    pipeline = build_pipeline(config, mixed).fit(to_features(frame, mixed), frame["target"])
    path = write_bundle(tmp_path_factory.mktemp("typed"), pipeline, mixed, frame)
    return Bundle(path, mixed, pipeline, frame)


@pytest.fixture
def typed_client(typed: Bundle) -> Iterator[TestClient]:
    with serve(typed.path) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def moved(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


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
{%- if classification %}


def expected_answer(pipeline: Pipeline, schema: DatasetSchema, rows: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(to_features(rows, schema))


def served_answer(body: dict[str, Any], schema: DatasetSchema) -> np.ndarray:
    """The probabilities of an answer as a matrix, columns in class order."""
    names = [str(label) for label in schema.classes]
    assert all(list(row) == names for row in body["probabilities"])
    return np.array([[row[name] for name in names] for row in body["probabilities"]])


def assert_answers(body: dict[str, Any], pipeline: Pipeline, schema, rows) -> None:
    """Probabilities as the pipeline's (ONNX computes in float32); the same classes
    wherever the two likeliest are not tied within that precision."""
    expected = expected_answer(pipeline, schema, rows)
    served = served_answer(body, schema)
    assert served.shape == expected.shape
    np.testing.assert_allclose(served, expected, atol=ONNX_TOLERANCE)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
    top = np.sort(expected, axis=1)
    decided = top[:, -1] - top[:, -2] > 2 * ONNX_TOLERANCE
    predicted = pipeline.predict(to_features(rows, schema))
    assert [p for p, d in zip(body["predictions"], decided) if d] == predicted[decided].tolist()
    if schema.positive_class is None:
        assert "positive_probabilities" not in body
    else:
        column = list(schema.classes).index(schema.positive_class)
        assert body["positive_probabilities"] == served[:, column].tolist()
{%- else %}


def expected_answer(pipeline: Pipeline, schema: DatasetSchema, rows: pd.DataFrame) -> np.ndarray:
    return pipeline.predict(to_features(rows, schema))


def served_answer(body: dict[str, Any], schema: DatasetSchema) -> np.ndarray:
    return np.array(body["predictions"])


def assert_answers(body: dict[str, Any], pipeline: Pipeline, schema, rows) -> None:
    """Predictions as the pipeline's (ONNX computes in float32); no probabilities."""
    assert set(body) == {"request_id", "model", "predictions", "warnings"}
    expected = expected_answer(pipeline, schema, rows)
    np.testing.assert_allclose(served_answer(body, schema), expected, rtol=ONNX_TOLERANCE)
{%- endif %}


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "detail": None}
    assert client.get("/ready").json()["status"] == "ready"


def test_not_ready_before_the_model_loads(serving_bundle: Path, records) -> None:
    client = TestClient(create_app(Settings(model_path=serving_bundle)))  # lifespan not run
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    response = client.post("/predict", json={"records": records[:1]})
    assert response.status_code == 503
    assert response.json() == {"detail": "the model is not loaded yet; see /ready"}


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


def drop(record: Record, schema: DatasetSchema) -> tuple[dict, str]:
    name = schema.features[0].name
    rest = {key: value for key, value in record.items() if key != name}
    return {"records": [rest]}, f"records.0.{name}: Field required"


def unknown(record: Record, schema: DatasetSchema) -> tuple[dict, str]:
    assert NOT_A_FEATURE not in schema.names()
    body = {"records": [{**record, NOT_A_FEATURE: 1.0}]}
    return body, f"records.0.{NOT_A_FEATURE}: Extra inputs are not permitted"


def text_for_number(record: Record, schema: DatasetSchema) -> tuple[dict, str]:
    feature = feature_of(schema, NUMERIC)
    body = {"records": [changed(record, **{feature.name: "1"})]}
    return body, f"records.0.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def boolean_for_number(record: Record, schema: DatasetSchema) -> tuple[dict, str]:
    feature = feature_of(schema, NUMERIC)
    body = {"records": [changed(record, **{feature.name: True})]}
    return body, f"records.0.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def number_for_category(record: Record, schema: DatasetSchema) -> tuple[dict, str]:
    feature = feature_of(schema, CATEGORICAL)
    body = {"records": [changed(record, **{feature.name: 1})]}
    return body, f"records.0.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def list_in_second(record: Record, schema: DatasetSchema) -> tuple[dict, str]:
    feature = schema.features[-1]
    body = {"records": [record, changed(record, **{feature.name: [1]})]}
    return body, f"records.1.{feature.name}: {TYPE_ERRORS[feature.dtype]}"


def no_records(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    return {"records": []}, "records: List should have at least 1 item after validation, not 0"


def too_many(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    expected = "records: List should have at most 256 items after validation, not 257"
    return {"records": [record] * 257}, expected


def wrong_key(record: Record, schema: DatasetSchema) -> tuple[Any, str]:
    expected = "records: Field required; rows: Extra inputs are not permitted"
    return {"rows": [record]}, expected


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


def test_malformed_json_is_400(client: TestClient) -> None:
    before = errors_counted(client, "malformed_json")
    response = client.post(
        "/predict", content='{"records": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert errors_counted(client, "malformed_json") == before + 1
{%- if classification %}


def send_feedback(client: TestClient, records: list[Record], labels: list[Any]) -> dict:
    predicted = client.post("/predict", json={"records": records}).json()
    response = client.post(
        "/feedback", json={"request_id": predicted["request_id"], "labels": labels}
    )
    assert response.status_code == 200, response.json()
    return {"predictions": predicted["predictions"], **response.json()}


def test_feedback_updates_live_accuracy(client: TestClient, records, held_out, schema) -> None:
    labels = held_out[1].head(20).tolist()
    answer = send_feedback(client, records[:20], labels)
    accuracy = np.mean([p == y for p, y in zip(answer["predictions"], labels)])
    assert (answer["labelled"], answer["live_accuracy"]) == (20, pytest.approx(accuracy))
    assert ("live_recall" in answer) == (schema.positive_class is not None)
    metrics = samples(client)
    assert metrics[("model_live_accuracy", ())] == pytest.approx(accuracy)
    assert metrics[("model_feedback_labels_total", ())] == 20
    again = {"request_id": answer["request_id"], "labels": labels}
    assert client.post("/feedback", json=again).status_code == 404


def test_live_recall_of_the_positive_class(client: TestClient, records, held_out, schema) -> None:
    positive = schema.positive_class
    if positive is None:
        pytest.skip("the model is not binary: no positive class, no live recall")
    labels = held_out[1].head(len(records)).tolist()
    negatives = [i for i, label in enumerate(labels) if label != positive][:10]
    mixed = negatives[:5] + [i for i, label in enumerate(labels) if label == positive][:5]
    assert math.isnan(samples(client)[("model_live_recall", ())])  # nothing known yet
    first = send_feedback(client, [records[i] for i in negatives], [labels[i] for i in negatives])
    assert first["live_recall"] is None
    assert math.isnan(samples(client)[("model_live_recall", ())])
    second = send_feedback(client, [records[i] for i in mixed], [labels[i] for i in mixed])
    predicted = first["predictions"] + second["predictions"]
    truths = [labels[i] for i in negatives + mixed]
    hits = [p == y for p, y in zip(predicted, truths) if y == positive]
    assert second["live_recall"] == pytest.approx(np.mean(hits))
    assert samples(client)[("model_live_recall", ())] == pytest.approx(np.mean(hits))


def test_feedback_errors(client: TestClient, records, schema) -> None:
    predicted = client.post("/predict", json={"records": records[:2]}).json()
    request_id, first = predicted["request_id"], schema.classes[0]
    wrong_length = client.post("/feedback", json={"request_id": request_id, "labels": [first]})
    assert wrong_length.status_code == 404
    assert wrong_length.json()["detail"].startswith(f"request_id: no prediction {request_id!r}")
    unknown = client.post("/feedback", json={"request_id": "nope", "labels": [first, first]})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("request_id: ")
    not_a_class = "".join(map(str, schema.classes)) + "?"
    bad = client.post("/feedback", json={"request_id": request_id, "labels": [first, not_a_class]})
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("labels.1: Input should be ")
    empty = client.post("/feedback", json={"request_id": request_id, "labels": []})
    assert empty.status_code == 422 and empty.json()["detail"].startswith("labels: ")


def test_metadata_describes_the_model(client: TestClient, schema) -> None:
    body = client.get("/metadata").json()
    assert (body["name"], body["version"], body["alias"]) == ("test-model", "7", "champion")
    assert body["runtime"] == "onnxruntime"
    assert body["features"] == [
        {"name": f.name, "kind": f.kind, "dtype": f.dtype, "categories": f.categories}
        for f in schema.features
    ]
    assert body["metrics"] == BUNDLE_METRICS
    assert (body["classes"], body["positive_class"]) == (schema.classes, schema.positive_class)


def test_openapi_lists_exactly_the_answer_fields(client: TestClient, schema) -> None:
    spec = client.get("/openapi.json").json()
    answer = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    fields = spec["components"]["schemas"][answer["schema"]["$ref"].rsplit("/", 1)[1]]
    expected = {"request_id", "model", "predictions", "probabilities", "warnings"}
    binary = {"positive_probabilities"} if schema.positive_class is not None else set()
    assert set(fields["required"]) == set(fields["properties"]) == expected | binary


def test_counters_move_by_exactly_the_requests_sent(client: TestClient, known, schema) -> None:
    before = samples(client)
    bodies = [client.post("/predict", json={"records": known[i:i + 3]}).json() for i in (0, 3)]
    after = samples(client)
    predicted = [label for body in bodies for label in body["predictions"]]
    for label in schema.classes:
        counted = moved(after, before, "model_predictions_total", predicted_class=str(label))
        assert counted == predicted.count(label)
    assert moved(after, before, "model_prediction_latency_seconds_count") == 2
    for name in schema.names("categorical"):
        assert moved(after, before, "model_unseen_categories_total", feature=name) == 0
    assert after[("model_requests_in_flight", ())] == 0
    info = next(k for k in after if k[0] == "model_info")
    assert dict(info[1])["runtime"] == "onnxruntime"
{%- else %}


def test_feedback_updates_live_mae(client: TestClient, records, held_out) -> None:
    assert math.isnan(samples(client)[("model_live_mae", ())])  # nothing known yet
    targets = held_out[1].head(20).tolist()
    predicted = client.post("/predict", json={"records": records[:20]}).json()
    response = client.post(
        "/feedback", json={"request_id": predicted["request_id"], "targets": targets}
    )
    assert response.status_code == 200
    expected = np.mean(np.abs(np.array(predicted["predictions"]) - np.array(targets)))
    body = response.json()
    assert (body["received"], body["live_mae"]) == (20, pytest.approx(expected))
    metrics = samples(client)
    assert metrics[("model_live_mae", ())] == pytest.approx(expected)
    assert metrics[("model_feedback_targets_total", ())] == 20
    again = client.post(
        "/feedback", json={"request_id": predicted["request_id"], "targets": targets}
    )
    assert again.status_code == 404


def test_feedback_errors(client: TestClient, records) -> None:
    predicted = client.post("/predict", json={"records": records[:2]}).json()
    request_id = predicted["request_id"]
    wrong_length = client.post("/feedback", json={"request_id": request_id, "targets": [1.0]})
    assert wrong_length.status_code == 404
    assert wrong_length.json()["detail"].startswith(f"request_id: no prediction {request_id!r}")
    unknown = client.post("/feedback", json={"request_id": "nope", "targets": [1.0, 2.0]})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("request_id: ")
    word = client.post("/feedback", json={"request_id": request_id, "targets": [1.0, "high"]})
    assert word.json() == {"detail": "targets.1: Input should be a valid number"}
    empty = client.post("/feedback", json={"request_id": request_id, "targets": []})
    assert empty.status_code == 422 and empty.json()["detail"].startswith("targets: ")
    body = {"request_id": request_id, "targets": [1.0, math.inf]}
    infinite = client.post(
        "/feedback", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert infinite.json() == {"detail": "targets.1: Input should be a finite number"}


def test_metadata_describes_the_model(client: TestClient, schema) -> None:
    body = client.get("/metadata").json()
    assert (body["name"], body["version"], body["alias"]) == ("test-model", "7", "champion")
    assert body["runtime"] == "onnxruntime"
    assert body["features"] == [
        {"name": f.name, "kind": f.kind, "dtype": f.dtype, "categories": f.categories}
        for f in schema.features
    ]
    assert body["metrics"] == BUNDLE_METRICS
    assert "classes" not in body and "positive_class" not in body


def test_openapi_lists_exactly_the_answer_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    answer = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    fields = spec["components"]["schemas"][answer["schema"]["$ref"].rsplit("/", 1)[1]]
    expected = {"request_id", "model", "predictions", "warnings"}
    assert set(fields["required"]) == set(fields["properties"]) == expected


def test_counters_move_by_exactly_the_requests_sent(client: TestClient, known, schema) -> None:
    before = samples(client)
    bodies = [client.post("/predict", json={"records": known[i:i + 3]}).json() for i in (0, 3)]
    after = samples(client)
    predicted = [value for body in bodies for value in body["predictions"]]
    assert moved(after, before, "model_predictions_total") == 6
    assert moved(after, before, "model_predicted_value_count") == 6
    assert moved(after, before, "model_predicted_value_sum") == pytest.approx(sum(predicted))
    assert moved(after, before, "model_prediction_latency_seconds_count") == 2
    for name in schema.names("categorical"):
        assert moved(after, before, "model_unseen_categories_total", feature=name) == 0
    assert after[("model_requests_in_flight", ())] == 0
    info = next(k for k in after if k[0] == "model_info")
    assert dict(info[1])["runtime"] == "onnxruntime"
{%- endif %}


def test_held_out_metric_is_a_gauge_when_the_bundle_has_it(
    client: TestClient, serving_bundle: Path, tmp_path: Path
) -> None:
    metric, gauge = HELD_OUT
    assert samples(client)[(gauge, ())] == BUNDLE_METRICS[metric]
    bundle = shutil.copytree(serving_bundle, tmp_path / "bundle")
    metadata = json.loads((bundle / model_io.METADATA_FILE).read_text())
    (bundle / model_io.METADATA_FILE).write_text(json.dumps({**metadata, "metrics": {}}))
    with serve(bundle) as without:
        assert not any(name == gauge for name, _ in samples(without))


def flagged_features(metrics: dict[tuple[str, tuple], float], schema: DatasetSchema) -> set[str]:
    return {
        name
        for name in schema.names()
        if metrics.get(("model_feature_drift_detected", (("feature", name),))) == 1
    }


@pytest.fixture
def shifted_records(splits, schema: DatasetSchema, drift_feature) -> list[Record]:
    """Training rows with one feature moved: enough to fill the bundle's drift window."""
    train = splits[0]
    return request_records(shifted(train.head(60), train, drift_feature), schema)


@contextmanager
def drift_spied(service: Service) -> Iterator[list[str]]:
    """Names of the threads that started drift computations while the block ran."""
    drift = service.drift
    assert drift is not None
    threads: list[str] = []
    original = drift._report

    def report(rows: list[tuple[Any, ...]]) -> Any:
        threads.append(threading.current_thread().name)
        return original(rows)

    drift._report = report  # type: ignore[method-assign]
    try:
        yield threads
    finally:
        drift._report = original  # type: ignore[method-assign]


def test_drift_gauges_flag_a_shifted_feature(
    serving_bundle: Path, shifted_records, schema, drift_feature
) -> None:
    # Computed in a thread (DRIFT_PROCESS=false): the same statistics, and no process to
    # spawn; the next test runs them in the drift process.
    service = loaded_service(serving_bundle, drift_process=False)
    with TestClient(create_app(service=service)) as client:
        assert client.post("/predict", json={"records": shifted_records}).status_code == 200
        assert flagged_features(samples(client), schema) == set()  # not computed yet
        assert service.drift is not None and service.drift.refresh()
        metrics = samples(client)
    assert flagged_features(metrics, schema) == {drift_feature.name}
    assert metrics[("model_drift_observed_records", ())] == len(shifted_records)
    assert metrics[("model_drift_computed_timestamp_seconds", ())] > 0


def test_drift_is_computed_in_a_process_of_its_own(
    serving_bundle: Path, shifted_records, schema, drift_feature, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statistics never take this process's GIL: no report is computed here, a
    spawned child computes the same gauges, and it ends with the app."""
    here: list[int] = []
    original = DriftBaseline.report

    def report(self: DriftBaseline, rows: Any) -> Any:
        here.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(DriftBaseline, "report", report)  # this process only
    before = set(multiprocessing.active_children())
    service = loaded_service(serving_bundle)
    with TestClient(create_app(service=service)) as client:
        client.post("/predict", json={"records": shifted_records})
        assert service.drift is not None and service.drift.refresh()
        children = set(multiprocessing.active_children()) - before
        assert len(children) == 1
        metrics = samples(client)
    assert here == []
    assert flagged_features(metrics, schema) == {drift_feature.name}
    (child,) = children
    child.join(5)
    assert not child.is_alive(), "the drift process outlived the app"


def test_scrapes_read_drift_and_never_compute_it(serving_bundle: Path, shifted_records) -> None:
    service = loaded_service(serving_bundle)
    with TestClient(create_app(service=service)) as client, drift_spied(service) as threads:
        client.post("/predict", json={"records": shifted_records})
        for _ in range(3):
            metrics = samples(client)
    assert threads == []
    assert metrics[("model_drift_computed_timestamp_seconds", ())] == 0


def test_the_drift_worker_recomputes_after_enough_records(
    serving_bundle: Path, shifted_records, schema, drift_feature
) -> None:
    service = loaded_service(
        serving_bundle, drift_records=len(shifted_records), drift_process=False
    )
    with TestClient(create_app(service=service)) as client, drift_spied(service) as threads:
        client.post("/predict", json={"records": shifted_records})
        deadline = time.monotonic() + 20
        while not (metrics := samples(client))[("model_drift_observed_records", ())]:
            assert time.monotonic() < deadline, "the drift worker did not run"
            time.sleep(0.05)
    assert flagged_features(metrics, schema) == {drift_feature.name}
    assert set(threads) == {"drift-worker"}


def test_the_drift_worker_stops_with_the_app(serving_bundle: Path) -> None:
    service = loaded_service(serving_bundle)
    with TestClient(create_app(service=service)):
        worker = next(t for t in threading.enumerate() if t.name == "drift-worker")
        assert worker.is_alive()
    worker.join(5)
    assert not worker.is_alive()


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


def test_missing_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="not a serving bundle"):
        create_app(Settings(model_path=tmp_path))
