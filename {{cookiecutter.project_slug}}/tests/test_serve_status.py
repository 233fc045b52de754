"""API tests of what the service tells about itself: health and readiness, /metadata, and
the /metrics a scrape reads (the held-out metric, the live drift gauges).

Drift is computed off the request path: in a process of its own by default, by a worker
thread after enough records, never by a scrape. A missing bundle is a clear error at start.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.monitor import DriftBaseline
from {{ cookiecutter.package_name }}.schema import DatasetSchema
from {{ cookiecutter.package_name }}.serving import Settings, create_app
from {{ cookiecutter.package_name }}.serving.service import Service

from data_support import request_records, shifted
from service_support import Record, Samples, loaded_service, samples, serve
from task_support import BUNDLE_METRICS, HELD_OUT

# What the server runs on and the drift process never needs.
WEB_STACK = {"fastapi", "starlette", "uvicorn", "onnxruntime", "prometheus_client"}


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


def test_the_loaded_model_is_left_out_of_full_collections(serving_bundle: Path) -> None:
    """Loading in the background, the service freezes what is alive once loaded (it lives
    as long as the process), so the collector's full passes over it never stall requests."""
    gc.unfreeze()
    quiet = Settings(model_path=serving_bundle, drift_interval=3600.0, drift_records=10**9)
    try:
        with TestClient(create_app(quiet)) as client:
            deadline = time.monotonic() + 20
            while gc.get_freeze_count() == 0:
                assert time.monotonic() < deadline, client.get("/ready").json()
                time.sleep(0.05)
            assert client.get("/ready").json()["status"] == "ready"
    finally:
        gc.unfreeze()  # the objects of the tests after this one stay collectable


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


def test_missing_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="not a serving bundle"):
        create_app(Settings(model_path=tmp_path))


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
    spawned child computes the same gauges, without the web stack loaded, and it ends
    with the app."""
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
        # The child, asked what it imported (eval is a builtin: it is sent by name).
        executor = service.drift._executor
        assert executor is not None
        loaded = executor.submit(eval, "list(__import__('sys').modules)").result(30)
    assert here == []
    assert "scipy.stats" in loaded and "pandas" in loaded
    assert not {name.split(".")[0] for name in loaded} & WEB_STACK
    serving = "{{ cookiecutter.package_name }}.serving"
    assert not [name for name in loaded if name.startswith(serving)]
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
