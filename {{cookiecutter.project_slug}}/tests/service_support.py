"""Helpers for the API tests (test_serve and test_serve_task): a loaded service, a
client of it, and the samples of its /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.serving import Settings, create_app
from {{ cookiecutter.package_name }}.serving.service import Service, open_bundle

Record = dict[str, Any]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


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


def samples(client: TestClient) -> Samples:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def moved(after: Samples, before: Samples, name: str, **labels: str) -> float:
    """How far one sample moved between two scrapes (0 where it was missing)."""
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)
