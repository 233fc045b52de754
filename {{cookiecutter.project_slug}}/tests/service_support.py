"""Helpers for the API tests (the test_serve modules and test_serve_task): a serving
bundle written without MLflow, a loaded service, a client of it, and the samples of its
/metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import model_io
from {{ cookiecutter.package_name }}.schema import SCHEMA_FILE, DatasetSchema, to_features
from {{ cookiecutter.package_name }}.serving import Settings, create_app
from {{ cookiecutter.package_name }}.serving.service import Service, open_bundle

Record = dict[str, Any]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Bundle(NamedTuple):
    """A serving bundle with what it was built from."""

    path: Path
    schema: DatasetSchema
    pipeline: Pipeline
    rows: pd.DataFrame  # raw rows of its training data


def write_bundle(
    path: Path,
    pipeline: Pipeline,
    schema: DatasetSchema,
    reference: pd.DataFrame,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """A serving bundle as ``export`` writes one, built from a fitted pipeline (no MLflow)."""
    model_dir = path / model_io.MLFLOW_MODEL_DIR
    model_io.save_model(pipeline, model_dir / "model.skops")
    # The part of the MLmodel file MLflow writes that the service reads.
    flavor = {"pickled_model": "model.skops", "serialization_format": "skops"}
    (model_dir / model_io.MLMODEL_FILE).write_text(yaml.safe_dump({"flavors": {"sklearn": flavor}}))
    (path / model_io.ONNX_FILE).write_bytes(model_io.to_onnx(pipeline, schema))
    schema.save(path / SCHEMA_FILE)
    to_features(reference, schema).to_csv(path / model_io.REFERENCE_FILE, index=False)
    metadata = metadata or {"name": "typed", "version": "1", "alias": "champion", "metrics": {}}
    (path / model_io.METADATA_FILE).write_text(json.dumps(metadata))
    return path


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
