"""The prediction service: FastAPI over a serving bundle, with Prometheus metrics.

Run it with ``{{ cookiecutter.project_slug }} serve`` (port 8080). Settings come from environment
variables (see ``Settings``). The request schema is built from the bundle's
``schema.json``, so it always matches the features the model was trained on.
"""

# No `from __future__ import annotations` here: FastAPI must see the request models built
# inside create_app as classes, not as strings it cannot resolve.

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

{% if cookiecutter.problem_type == "classification" -%}
import numpy as np
{% endif -%}
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
{%- if cookiecutter.problem_type == "regression" %}
    Summary,
{%- endif %}
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_settings import BaseSettings

from .config import MonitoringSection
from .model_io import Predictor, ServingBundle, export_from_registry
from .monitor import LiveDriftMonitor
from .schema import DatasetSchema

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
{%- if cookiecutter.problem_type == "classification" %}
Label = int | str
{%- endif %}


class Settings(BaseSettings):
    """Environment variables, e.g. ``MODEL_PATH=/models/serving``."""

    model_path: Path = Path("models/serving")
    model_uri: str | None = Field(
        None, description="models:/<name>@<alias>: download into model_path at start-up"
    )
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    max_batch_size: int = Field(256, ge=1)
    feedback_capacity: int = Field(10_000, ge=1)
{%- if cookiecutter.problem_type == "classification" %}
    accuracy_window: int = Field(1_000, ge=1)
{%- else %}
    mae_window: int = Field(1_000, ge=1)
{%- endif %}
    prefer_onnx: bool = True


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ModelRef(BaseModel):
    name: str
    version: str


class PredictResponse(BaseModel):
    request_id: str
    model: ModelRef
{%- if cookiecutter.problem_type == "classification" %}
    predictions: list[Label]
    probabilities: list[dict[str, float]]


class FeedbackResponse(BaseModel):
    request_id: str
    labelled: int
    live_accuracy: float
{%- else %}
    predictions: list[float]


class FeedbackResponse(BaseModel):
    request_id: str
    received: int
    live_mae: float
{%- endif %}


class Status(BaseModel):
    status: Literal["ok", "ready", "loading", "failed"]
    detail: str | None = None


class FeatureInfo(BaseModel):
    name: str
    kind: str
    categories: list[str]


class Metadata(BaseModel):
    name: str
    version: str
    alias: str
    runtime: str | None
{%- if cookiecutter.problem_type == "classification" %}
    classes: list[Label]
{%- endif %}
    metrics: dict[str, float]
    features: list[FeatureInfo]


class Problem(BaseModel):
    detail: str


def record_model(schema: DatasetSchema) -> type[BaseModel]:
    """One request record: every feature required, typed as in training, nothing else."""
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        python_type = float if feature.kind == "numeric" else str
        fields[f"f{position}"] = (python_type, Field(alias=feature.name))
    return create_model("Record", __base__=Strict, **fields)


def predict_request_model(schema: DatasetSchema, max_batch_size: int) -> type[BaseModel]:
    record = record_model(schema)
    records = (list[record], Field(min_length=1, max_length=max_batch_size))
    return create_model("PredictRequest", __base__=Strict, records=records)
{%- if cookiecutter.problem_type == "classification" %}


def feedback_request_model(schema: DatasetSchema) -> type[BaseModel]:
    """True labels must be classes the model knows; the schema lists them."""
    labels = (
        list[Literal[tuple(schema.classes)]],
        Field(min_length=1, description="true class of each predicted record, in order"),
    )
    return create_model(
        "FeedbackRequest", __base__=Strict, request_id=(str, Field(min_length=1)), labels=labels
    )
{%- else %}


class FeedbackRequest(Strict):
    """True target values (finite numbers) of an earlier request's records, in order."""

    request_id: str = Field(min_length=1)
    targets: list[float] = Field(min_length=1)
{%- endif %}


def describe(errors: Sequence[dict[str, Any]]) -> str:
    """``records.0.{{ "mean radius" if cookiecutter.problem_type == "classification" else "bmi" }}: Field required``: the field path without the body prefix."""
    parts = []
    for error in errors:
        location = [str(part) for part in error["loc"] if part != "body"]
        parts.append(f"{'.'.join(location) or 'body'}: {error['msg']}")
    return "; ".join(parts)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
{%- if cookiecutter.problem_type == "classification" %}
        self.predictions = Counter(
            "model_predictions", "Predicted records by class", ["predicted_class"], registry=r
        )
{%- else %}
        self.predictions = Counter("model_predictions", "Predicted records", registry=r)
        self.predicted_value = Summary(
            "model_predicted_value",
            "Predicted values: rate(_sum) / rate(_count) is their recent mean",
            registry=r,
        )
{%- endif %}
        self.latency = Histogram(
            "model_prediction_latency_seconds",
            "Time to answer a /predict request, model call included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("model_request_errors", "Refused requests", ["reason"], registry=r)
        self.in_flight = Gauge("model_requests_in_flight", "Predictions being computed", registry=r)
{%- if cookiecutter.problem_type == "classification" %}
        self.feedback = Counter("model_feedback_labels", "Ground-truth labels received", registry=r)
        self.accuracy = Gauge(
            "model_live_accuracy", "Accuracy over the most recent labelled predictions", registry=r
        )
{%- else %}
        self.feedback = Counter(
            "model_feedback_targets", "True target values received by /feedback", registry=r
        )
        self.mae = Gauge(
            "model_live_mae",
            "Mean absolute error over the most recent predictions given true values",
            registry=r,
        )
{%- endif %}
        self.drift_psi = Gauge(
            "model_feature_drift_psi", "PSI of recent requests vs training", ["feature"], registry=r
        )
        self.drift_p_value = Gauge(
            "model_feature_drift_p_value",
            "Drift test p-value of recent requests vs training",
            ["feature"],
            registry=r,
        )
        self.drift_detected = Gauge(
            "model_feature_drift_detected",
            "1 when the feature has drifted",
            ["feature"],
            registry=r,
        )
        self.info = Info("model", "The model being served", registry=r)


class Service:
    """Mutable state behind the endpoints: the model, recent predictions, live monitors."""

    def __init__(self, settings: Settings, bundle: ServingBundle) -> None:
        self.settings = settings
        self.bundle = bundle
        self.metrics = Metrics()
        self.predictor: Predictor | None = None
        self.drift: LiveDriftMonitor | None = None
        self.load_error: str | None = None
{%- if cookiecutter.problem_type == "classification" %}
        self.recent: OrderedDict[str, list[Label]] = OrderedDict()
        self.outcomes: deque[bool] = deque(maxlen=settings.accuracy_window)
{%- else %}
        self.recent: OrderedDict[str, list[float]] = OrderedDict()
        self.abs_errors: deque[float] = deque(maxlen=settings.mae_window)
{%- endif %}
        self.lock = threading.Lock()

    def load(self) -> None:
        """Build the predictor and the drift baseline; /ready turns 200 when done."""
        try:
            predictor = self.bundle.predictor(prefer_onnx=self.settings.prefer_onnx)
            monitoring = MonitoringSection(**self.bundle.metadata.get("monitoring", {}))
            self.drift = LiveDriftMonitor(self.bundle.reference(), self.bundle.schema, monitoring)
            self.metrics.info.info(
                {
                    "name": self.bundle.metadata["name"],
                    "version": self.bundle.metadata["version"],
                    "alias": self.bundle.metadata["alias"],
                    "runtime": predictor.runtime,
                }
            )
            self.predictor = predictor
            log.info("serving %s with %s", self.bundle.path, predictor.runtime)
        except Exception as exc:  # reported by /ready instead of killing the process
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("could not load the model from %s", self.bundle.path)

    def remember(self, request_id: str, predictions: list[{{ "Label" if cookiecutter.problem_type == "classification" else "float" }}]) -> None:
        with self.lock:
            self.recent[request_id] = predictions
            while len(self.recent) > self.settings.feedback_capacity:
                self.recent.popitem(last=False)
{%- if cookiecutter.problem_type == "classification" %}

    def record_feedback(self, request_id: str, labels: list[Label]) -> float | None:
        with self.lock:
            predictions = self.recent.get(request_id)
            if predictions is None or len(predictions) != len(labels):
                return None
            del self.recent[request_id]
            self.outcomes.extend(p == y for p, y in zip(predictions, labels))
            accuracy = sum(self.outcomes) / len(self.outcomes)
        self.metrics.feedback.inc(len(labels))
        self.metrics.accuracy.set(accuracy)
        return accuracy
{%- else %}

    def record_feedback(self, request_id: str, targets: list[float]) -> float | None:
        """Live MAE over the last ``mae_window`` predictions that got their true value."""
        with self.lock:
            predictions = self.recent.get(request_id)
            if predictions is None or len(predictions) != len(targets):
                return None
            del self.recent[request_id]
            self.abs_errors.extend(abs(p - y) for p, y in zip(predictions, targets))
            mae = sum(self.abs_errors) / len(self.abs_errors)
        self.metrics.feedback.inc(len(targets))
        self.metrics.mae.set(mae)
        return mae
{%- endif %}

    def refresh_drift_gauges(self) -> None:
        report = self.drift.report() if self.drift else None
        if report is None:
            return
        for feature in report.features:
            self.metrics.drift_psi.labels(feature.name).set(feature.psi)
            self.metrics.drift_p_value.labels(feature.name).set(feature.p_value)
            self.metrics.drift_detected.labels(feature.name).set(int(feature.drifted))


def open_bundle(settings: Settings) -> ServingBundle:
    if settings.model_uri:
        return export_from_registry(
            settings.model_uri, settings.mlflow_tracking_uri, settings.model_path, {}
        )
    return ServingBundle.open(settings.model_path)


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for one serving bundle; the model itself loads in the background."""
    settings = settings or Settings()
    service = Service(settings, open_bundle(settings))
    schema = service.bundle.schema
    metadata = service.bundle.metadata
    model_ref = ModelRef(name=metadata["name"], version=metadata["version"])
    PredictRequest = predict_request_model(schema, settings.max_batch_size)
{%- if cookiecutter.problem_type == "classification" %}
    FeedbackRequest = feedback_request_model(schema)
{%- endif %}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=service.load, name="model-loader", daemon=True).start()
        yield

    app = FastAPI(
        title="{{ cookiecutter.project_name }}",
        description="Predictions, feedback and monitoring for the champion model.",
        version=metadata["version"],
        lifespan=lifespan,
    )
    app.state.service = service
    client_errors = {
        400: {"model": Problem, "description": "Malformed JSON"},
        422: {"model": Problem, "description": "A field is missing, unknown or invalid"},
    }

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        malformed = any(error["type"] == "json_invalid" for error in errors)
        service.metrics.errors.labels("malformed_json" if malformed else "validation").inc()
        return problem(400 if malformed else 422, describe(errors))

    @app.get("/health", response_model=Status)
    async def health() -> Status:
        """Liveness: the process answers."""
        return Status(status="ok")

    @app.get("/ready", response_model=Status, responses={503: {"model": Status}})
    async def ready() -> Status | JSONResponse:
        """Readiness: 200 once the model is loaded."""
        if service.predictor is not None:
            return Status(status="ready")
        state = "failed" if service.load_error else "loading"
        body = Status(status=state, detail=service.load_error)
        return JSONResponse(status_code=503, content=body.model_dump())

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={**client_errors, 503: {"model": Problem, "description": "Model not loaded"}},
    )
    async def predict(body: PredictRequest) -> PredictResponse | JSONResponse:  # type: ignore
{%- if cookiecutter.problem_type == "classification" %}
        """Class and class probabilities for one record or a batch of records."""
{%- else %}
        """The predicted value for one record or a batch of records."""
{%- endif %}
        predictor = service.predictor
        if predictor is None:
            service.metrics.errors.labels("not_ready").inc()
            return problem(503, "the model is not loaded yet; see /ready")
        metrics = service.metrics
        start = time.perf_counter()
        with metrics.in_flight.track_inprogress():
            records = [record.model_dump(by_alias=True) for record in body.records]
{%- if cookiecutter.problem_type == "classification" %}
            probabilities = predictor.predict_proba(records)
            classes = predictor.classes
            predictions = [classes[i] for i in np.argmax(probabilities, axis=1)]
        metrics.latency.observe(time.perf_counter() - start)
        for label in predictions:
            metrics.predictions.labels(str(label)).inc()
{%- else %}
            predictions = [float(value) for value in predictor.predict(records)]
        metrics.latency.observe(time.perf_counter() - start)
        metrics.predictions.inc(len(predictions))
        for value in predictions:
            metrics.predicted_value.observe(value)
{%- endif %}
        service.drift.observe(records)
        request_id = uuid.uuid4().hex
        service.remember(request_id, predictions)
{%- if cookiecutter.problem_type == "classification" %}
        names = [str(label) for label in classes]
        return PredictResponse(
            request_id=request_id,
            model=model_ref,
            predictions=predictions,
            probabilities=[dict(zip(names, map(float, row))) for row in probabilities],
        )
{%- else %}
        return PredictResponse(request_id=request_id, model=model_ref, predictions=predictions)
{%- endif %}

    @app.post(
        "/feedback",
        response_model=FeedbackResponse,
        responses={**client_errors, 404: {"model": Problem, "description": "Unknown request"}},
    )
    async def feedback(body: FeedbackRequest) -> FeedbackResponse | JSONResponse:  # type: ignore
{%- if cookiecutter.problem_type == "classification" %}
        """True labels for an earlier /predict request; updates the live accuracy."""
        accuracy = service.record_feedback(body.request_id, list(body.labels))
        if accuracy is None:
            service.metrics.errors.labels("unknown_request").inc()
            return problem(
                404,
                f"request_id: no unlabelled prediction {body.request_id!r} with "
                f"{len(body.labels)} records (unknown, expired or already labelled)",
            )
        return FeedbackResponse(
            request_id=body.request_id, labelled=len(body.labels), live_accuracy=accuracy
        )
{%- else %}
        """True target values for an earlier /predict request; updates the live MAE."""
        mae = service.record_feedback(body.request_id, body.targets)
        if mae is None:
            service.metrics.errors.labels("unknown_request").inc()
            return problem(
                404,
                f"request_id: no prediction awaiting feedback {body.request_id!r} with "
                f"{len(body.targets)} records (unknown, expired or already answered)",
            )
        return FeedbackResponse(
            request_id=body.request_id, received=len(body.targets), live_mae=mae
        )
{%- endif %}

    @app.get("/metadata", response_model=Metadata)
    async def model_metadata() -> Metadata:
        """What is being served: model, version, training metrics, feature schema."""
        return Metadata(
            name=metadata["name"],
            version=metadata["version"],
            alias=metadata["alias"],
            runtime=service.predictor.runtime if service.predictor else None,
{%- if cookiecutter.problem_type == "classification" %}
            classes=schema.classes,
{%- endif %}
            metrics=metadata.get("metrics", {}),
            features=[FeatureInfo(**feature.model_dump()) for feature in schema.features],
        )

    @app.get("/metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus exposition format."""
        service.refresh_drift_gauges()
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
