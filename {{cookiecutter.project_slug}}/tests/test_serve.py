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
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.data import infer_schema
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.monitor import DriftBaseline
from {{ cookiecutter.package_name }}.schema import DatasetSchema, Dtype, Feature, to_features
from {{ cookiecutter.package_name }}.serving import Settings, create_app
from {{ cookiecutter.package_name }}.serving.service import Service
from {{ cookiecutter.package_name }}.train import build_pipeline

from conftest import mixed_frame, request_records, shifted, with_gaps, write_bundle
from service_support import Record, Samples, loaded_service, moved, samples, serve
from task_support import BUNDLE_METRICS, HELD_OUT, ONNX_TOLERANCE, assert_answers, served_answer

NUMERIC, CATEGORICAL = ("float", "integer"), ("boolean", "string")
# pydantic's message for a value of the wrong JSON type, by the feature's type.
TYPE_ERRORS = {
    "float": "Input should be a valid number",
    "integer": "Input should be a valid integer",
    "boolean": "Input should be a valid boolean",
    "string": "Input should be a valid string",
}
NOT_A_FEATURE = "not a feature"


class Bundle(NamedTuple):
    """A serving bundle with what it was built from."""

    path: Path
    schema: DatasetSchema
    pipeline: Pipeline
    rows: pd.DataFrame  # raw rows of its training data


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
{%- if cookiecutter.feature_store == "feast" %}
    expected = "rows: Extra inputs are not permitted"  # records or entities: neither is required
{%- else %}
    expected = "records: Field required; rows: Extra inputs are not permitted"
{%- endif %}
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


def test_metadata_describes_the_model(client: TestClient, schema) -> None:
    body = client.get("/metadata").json()
    assert (body["name"], body["version"], body["alias"]) == ("test-model", "7", "champion")
    assert body["runtime"] == "onnxruntime"
    assert body["features"] == [
        {"name": f.name, "kind": f.kind, "dtype": f.dtype, "categories": f.categories}
        for f in schema.features
    ]
    assert body["metrics"] == BUNDLE_METRICS


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


def flagged_features(metrics: Samples, schema: DatasetSchema) -> set[str]:
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
