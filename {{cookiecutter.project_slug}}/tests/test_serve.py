"""API tests: every endpoint, every kind of bad input, and the Prometheus metrics."""

from __future__ import annotations

import json
{%- if cookiecutter.problem_type == "classification" %}
import math
{%- endif %}
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.serve import Settings, create_app

from conftest import ONNX_TOLERANCE
{%- if cookiecutter.problem_type == "classification" %}

FIRST, SECOND, UNSHIFTED = "mean radius", "mean area", "mean texture"
{%- else %}

FIRST, SECOND, UNSHIFTED = "bmi", "bp", "s1"
{%- endif %}


def wait_until_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").json()
        time.sleep(0.05)


@pytest.fixture
def client(serving_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_path=serving_bundle))) as test_client:
        wait_until_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def records(held_out) -> list[dict]:
    features, _ = held_out
    return features.to_dict(orient="records")


def samples(client: TestClient) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def errors_counted(client: TestClient, reason: str) -> float:
    return samples(client).get(("model_request_errors_total", (("reason", reason),)), 0.0)


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "detail": None}
    assert client.get("/ready").json()["status"] == "ready"


def test_not_ready_before_the_model_loads(serving_bundle: Path, records) -> None:
    client = TestClient(create_app(Settings(model_path=serving_bundle)))  # lifespan not run
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    response = client.post("/predict", json={"records": records[:1]})
    assert response.status_code == 503
    assert "not loaded" in response.json()["detail"]
{%- if cookiecutter.problem_type == "classification" %}


def test_predict_one_record(client: TestClient, records, fitted_pipeline, held_out) -> None:
    response = client.post("/predict", json={"records": records[:1]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "test-model", "version": "7"}
    assert body["predictions"] == fitted_pipeline.predict(held_out[0].head(1)).tolist()
    (probabilities,) = body["probabilities"]
    assert set(probabilities) == {"0", "1"}
    assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-5)
    assert len(body["request_id"]) == 32


def test_predict_batch_matches_the_pipeline(client, records, fitted_pipeline, held_out) -> None:
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == fitted_pipeline.predict(held_out[0]).tolist()
    served = np.array([[row["0"], row["1"]] for row in body["probabilities"]])
    expected = fitted_pipeline.predict_proba(held_out[0])
    np.testing.assert_allclose(served, expected, atol=ONNX_TOLERANCE)
{%- else %}


def test_predict_one_record(client: TestClient, records, fitted_pipeline, held_out) -> None:
    response = client.post("/predict", json={"records": records[:1]})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"request_id", "model", "predictions"}  # a number has no probabilities
    assert body["model"] == {"name": "test-model", "version": "7"}
    (prediction,) = body["predictions"]
    expected = fitted_pipeline.predict(held_out[0].head(1))[0]
    assert prediction == pytest.approx(expected, rel=ONNX_TOLERANCE)
    assert len(body["request_id"]) == 32


def test_predict_batch_matches_the_pipeline(client, records, fitted_pipeline, held_out) -> None:
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200
    served = response.json()["predictions"]
    assert len(served) == len(records)
    np.testing.assert_allclose(
        served, fitted_pipeline.predict(held_out[0]), rtol=ONNX_TOLERANCE
    )
{%- endif %}


def with_change(record: dict, changes: dict) -> dict:
    """A copy of ``record`` with some fields replaced; a field set to None is removed."""
    changed = dict(record)
    for key, value in changes.items():
        if value is None:
            del changed[key]
        else:
            changed[key] = value
    return changed


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (lambda r: {"records": [with_change(r, {FIRST: None})]}, f"records.0.{FIRST}"),
        (lambda r: {"records": [with_change(r, {"colour": "red"})]}, "records.0.colour"),
        (lambda r: {"records": [with_change(r, {FIRST: "big"})]}, f"records.0.{FIRST}"),
        (lambda r: {"records": [with_change(r, {FIRST: True})]}, f"records.0.{FIRST}"),
        (lambda r: {"records": [r, with_change(r, {SECOND: [1]})]}, f"records.1.{SECOND}"),
        (lambda r: {"records": []}, "records"),
        (lambda r: {"records": [r] * 257}, "records"),
        (lambda r: {"rows": [r]}, "records"),
        (lambda r: [r], "body"),
    ],
    ids=["missing", "unknown", "string", "boolean", "list", "empty", "too-big", "wrong-key",
         "not-object"],
)
def test_bad_predict_requests_are_422(client: TestClient, records, body, named) -> None:
    before = errors_counted(client, "validation")
    response = client.post("/predict", json=body(records[0]))
    assert response.status_code == 422
    assert named in response.json()["detail"]
    assert errors_counted(client, "validation") == before + 1


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(client: TestClient, records, token: str) -> None:
    text = json.dumps({"records": [records[0]]}).replace(str(records[0][FIRST]), token, 1)
    response = client.post("/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert f"records.0.{FIRST}" in response.json()["detail"]


def test_malformed_json_is_400(client: TestClient) -> None:
    before = errors_counted(client, "malformed_json")
    response = client.post(
        "/predict", content='{"records": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert errors_counted(client, "malformed_json") == before + 1
{%- if cookiecutter.problem_type == "classification" %}


def test_feedback_updates_live_accuracy(client: TestClient, records, held_out) -> None:
    _, target = held_out
    predicted = client.post("/predict", json={"records": records[:20]}).json()
    labels = target.head(20).tolist()
    response = client.post(
        "/feedback", json={"request_id": predicted["request_id"], "labels": labels}
    )
    assert response.status_code == 200
    expected = np.mean(np.array(predicted["predictions"]) == np.array(labels))
    assert response.json()["live_accuracy"] == pytest.approx(expected)
    metrics = samples(client)
    assert metrics[("model_live_accuracy", ())] == pytest.approx(expected)
    assert metrics[("model_feedback_labels_total", ())] == 20

    again = client.post("/feedback", json={"request_id": predicted["request_id"], "labels": labels})
    assert again.status_code == 404


def test_feedback_errors(client: TestClient, records) -> None:
    predicted = client.post("/predict", json={"records": records[:2]}).json()
    request_id = predicted["request_id"]
    wrong_length = client.post("/feedback", json={"request_id": request_id, "labels": [1]})
    assert wrong_length.status_code == 404
    unknown = client.post("/feedback", json={"request_id": "nope", "labels": [1, 0]})
    assert unknown.status_code == 404 and "request_id" in unknown.json()["detail"]
    bad_class = client.post("/feedback", json={"request_id": request_id, "labels": [1, 5]})
    assert bad_class.status_code == 422 and "labels" in bad_class.json()["detail"]
    empty = client.post("/feedback", json={"request_id": request_id, "labels": []})
    assert empty.status_code == 422 and "labels" in empty.json()["detail"]


def test_metadata_describes_the_model(client: TestClient, schema) -> None:
    body = client.get("/metadata").json()
    assert (body["name"], body["version"], body["alias"]) == ("test-model", "7", "champion")
    assert body["runtime"] == "onnxruntime"
    assert [f["name"] for f in body["features"]] == schema.names()
    assert body["metrics"] == {"test_roc_auc": 0.99}


def test_counters_move_by_exactly_the_requests_sent(client: TestClient, records) -> None:
    before = samples(client)
    bodies = [client.post("/predict", json={"records": records[i:i + 3]}).json() for i in (0, 3)]
    after = samples(client)
    predicted = [label for body in bodies for label in body["predictions"]]
    for label in {0, 1}:
        key = ("model_predictions_total", (("predicted_class", str(label)),))
        assert after.get(key, 0) - before.get(key, 0) == predicted.count(label)
    latency = ("model_prediction_latency_seconds_count", ())
    assert after[latency] - before.get(latency, 0) == 2
    assert after[("model_requests_in_flight", ())] == 0
    info = next(k for k in after if k[0] == "model_info")
    assert dict(info[1])["runtime"] == "onnxruntime"
{%- else %}


def test_feedback_updates_live_mae(client: TestClient, records, held_out) -> None:
    _, target = held_out
    predicted = client.post("/predict", json={"records": records[:20]}).json()
    targets = target.head(20).tolist()
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
    unknown = client.post("/feedback", json={"request_id": "nope", "targets": [1.0, 2.0]})
    assert unknown.status_code == 404 and "request_id" in unknown.json()["detail"]
    word = client.post("/feedback", json={"request_id": request_id, "targets": [1.0, "high"]})
    assert word.status_code == 422 and "targets.1" in word.json()["detail"]
    empty = client.post("/feedback", json={"request_id": request_id, "targets": []})
    assert empty.status_code == 422 and "targets" in empty.json()["detail"]
    body = json.dumps({"request_id": request_id, "targets": [1.0, 2.5]}).replace("2.5", "Infinity")
    infinite = client.post("/feedback", content=body, headers={"content-type": "application/json"})
    assert infinite.status_code == 422 and "targets.1" in infinite.json()["detail"]


def test_metadata_describes_the_model(client: TestClient, schema) -> None:
    body = client.get("/metadata").json()
    assert (body["name"], body["version"], body["alias"]) == ("test-model", "7", "champion")
    assert body["runtime"] == "onnxruntime"
    assert [f["name"] for f in body["features"]] == schema.names()
    assert body["metrics"] == {"test_rmse": 53.7}
    assert "classes" not in body


def test_counters_move_by_exactly_the_requests_sent(client: TestClient, records) -> None:
    before = samples(client)
    bodies = [client.post("/predict", json={"records": records[i:i + 3]}).json() for i in (0, 3)]
    after = samples(client)
    predicted = [value for body in bodies for value in body["predictions"]]

    def moved(name: str) -> float:
        return after[(name, ())] - before.get((name, ()), 0)

    assert moved("model_predictions_total") == 6
    assert moved("model_predicted_value_count") == 6
    assert moved("model_predicted_value_sum") == pytest.approx(sum(predicted))
    assert moved("model_prediction_latency_seconds_count") == 2
    assert after[("model_requests_in_flight", ())] == 0
    info = next(k for k in after if k[0] == "model_info")
    assert dict(info[1])["runtime"] == "onnxruntime"
{%- endif %}


def test_drift_gauges_flag_a_shifted_feature(client: TestClient, records, splits) -> None:
    shift = 3 * splits[0][FIRST].std()
    shifted = [with_change(r, {FIRST: r[FIRST] + shift}) for r in records[:60]]
    assert client.post("/predict", json={"records": shifted}).status_code == 200
    metrics = samples(client)
    assert metrics[("model_feature_drift_detected", (("feature", FIRST),))] == 1
    assert metrics[("model_feature_drift_detected", (("feature", UNSHIFTED),))] == 0


def test_sklearn_fallback_serves_the_same_answers(serving_bundle: Path, records) -> None:
    settings = Settings(model_path=serving_bundle, prefer_onnx=False)
    with TestClient(create_app(settings)) as fallback:
        wait_until_ready(fallback)
        assert fallback.get("/metadata").json()["runtime"] == "sklearn"
        slow = fallback.post("/predict", json={"records": records[:10]}).json()
    with TestClient(create_app(Settings(model_path=serving_bundle))) as fast:
        wait_until_ready(fast)
        quick = fast.post("/predict", json={"records": records[:10]}).json()
{%- if cookiecutter.problem_type == "classification" %}
    assert slow["predictions"] == quick["predictions"]
{%- else %}
    np.testing.assert_allclose(slow["predictions"], quick["predictions"], rtol=ONNX_TOLERANCE)
{%- endif %}


def test_missing_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="not a serving bundle"):
        create_app(Settings(model_path=tmp_path))
