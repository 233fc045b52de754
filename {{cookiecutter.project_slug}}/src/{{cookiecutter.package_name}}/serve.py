"""The prediction service: FastAPI over a serving bundle, with Prometheus metrics.

Run it with ``{{ cookiecutter.project_slug }} serve`` (port 8080). Settings come from environment
variables (see ``Settings``). The request schema is built from the bundle's
``schema.json``, so it always matches the features the model was trained on: each
feature keeps its type (integer, float, boolean or string), and ``null`` is a missing
value, imputed exactly as in training.

What depends on the problem type (the answer's fields, the feedback and its live metric)
sits in ``Task``; everything else is the same for every model.
"""

# No `from __future__ import annotations` here: FastAPI must see the request models built
# in add_model_routes as classes, not as strings it cannot resolve.

import logging
import math
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

{% if cookiecutter.problem_type == "classification" -%}
import numpy as np
{% endif -%}
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
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
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)
from pydantic_settings import BaseSettings

from .config import {% if cookiecutter.problem_type == "classification" %}Label, {% endif %}MonitoringSection
from .model_io import Predictor, Record, ServingBundle, export_from_registry
from .monitor import LiveDriftMonitor
from .schema import DatasetSchema

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# The model computes with floats: a larger integer could not reach it as a number.
LARGEST_INTEGER = int(sys.float_info.max)


def whole_number(value: Any) -> Any:
    """3.0 is the integer 3 in JSON (and in the OpenAPI schema's JSON Schema); 2.5, NaN
    and infinities stay floats, which the strict integer check then refuses."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def float_sized(value: int) -> int:
    """Refuse integers no float holds. Not a bound in the OpenAPI schema: fuzzers such
    as schemathesis ignore bounds of nullable fields, and no real value is this large."""
    if abs(value) > LARGEST_INTEGER:
        raise ValueError(f"integers must be at most {sys.float_info.max:.4g} in size")
    return value


Integer = Annotated[int, BeforeValidator(whole_number), AfterValidator(float_sized)]
# The JSON value each feature accepts, by its type in training; null is a missing value.
VALUE_TYPES: dict[str, Any] = {
    "float": float | None,
    "integer": Integer | None,
    "boolean": bool | None,
    "string": str | None,
}


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
    """No coercion ("1" is no number, true no float), no NaN or Infinity, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ModelRef(BaseModel):
    name: str
    version: str


class Answer(BaseModel):
    """The fields of every /predict answer; ``Task`` adds the predictions."""

    request_id: str
    model: ModelRef
    warnings: list[str] = Field(
        description="one line per category the model never saw in training, e.g. "
        "records.0.<feature>: category 'x' was not seen in training"
    )


class FeedbackBody(Strict):
    request_id: str = Field(min_length=1)


class Status(BaseModel):
    status: Literal["ok", "ready", "loading", "failed"]
    detail: str | None = None


class FeatureInfo(BaseModel):
    name: str
    kind: str
    dtype: str
    categories: list[str]


class ModelMetadata(BaseModel):
    name: str
    version: str
    alias: str
    runtime: str | None
    metrics: dict[str, float]
    features: list[FeatureInfo]


class Problem(BaseModel):
    detail: str


def record_model(schema: DatasetSchema) -> type[BaseModel]:
    """One request record: every feature's key required, its value typed as in training
    or null, nothing else."""
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        fields[f"f{position}"] = (VALUE_TYPES[feature.dtype], Field(alias=feature.name))
    return create_model("Record", __base__=Strict, **fields)


def predict_request_model(schema: DatasetSchema, max_batch_size: int) -> type[BaseModel]:
    record = record_model(schema)
    records = (list[record], Field(min_length=1, max_length=max_batch_size))
    return create_model("PredictRequest", __base__=Strict, records=records)


def describe(errors: Sequence[dict[str, Any]]) -> str:
    """``records.0.<feature>: Field required``: the field path without the body prefix."""
    parts = []
    for error in errors:
        location = [str(part) for part in error["loc"] if part != "body"]
        parts.append(f"{'.'.join(location) or 'body'}: {error['msg']}")
    return "; ".join(parts)


def unseen_categories(
    records: Sequence[Record], seen: Mapping[str, frozenset[str]]
) -> list[tuple[int, str, Any]]:
    """(record index, feature, value) of each category value training never had.

    They are answered, not refused: the encoders give them the representation of no known
    category (features.py). A missing value (None) is imputed, so it is not unseen.
    """
    return [
        (index, name, record[name])
        for index, record in enumerate(records)
        for name, categories in seen.items()
        if record[name] is not None and str(record[name]) not in categories
    ]


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app).

    ``held_out`` holds the bundle's held-out metrics (``test_<metric>``): exported as
    gauges, so alerts compare live quality with the model's own rather than a fixed number.
    A metric the bundle lacks is not exported (a 0 would read as a real score). Live
    quality gauges read NaN until feedback makes them known, for the same reason.
    """

    def __init__(self, schema: DatasetSchema, held_out: Mapping[str, float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
{%- if cookiecutter.problem_type == "classification" %}
        self.predictions = Counter(
            "model_predictions", "Predicted records by class", ["predicted_class"], registry=r
        )
        self.feedback = Counter("model_feedback_labels", "Ground-truth labels received", registry=r)
        self.accuracy = Gauge(
            "model_live_accuracy", "Accuracy over the most recent labelled predictions", registry=r
        )
        self.accuracy.set(math.nan)
        # Binary models only: multi-class ones have no positive class.
        self.recall: Gauge | None = None
        if schema.positive_class is not None:
            self.recall = Gauge(
                "model_live_recall",
                "Recall of the positive class over the most recent labelled predictions",
                registry=r,
            )
            self.recall.set(math.nan)  # while the window holds no positive label
        if "test_accuracy" in held_out:
            Gauge(
                "model_heldout_accuracy",
                "Accuracy of the model on its held-out test split",
                registry=r,
            ).set(held_out["test_accuracy"])
{%- else %}
        self.predictions = Counter("model_predictions", "Predicted records", registry=r)
        self.predicted_value = Summary(
            "model_predicted_value",
            "Predicted values: rate(_sum) / rate(_count) is their recent mean",
            registry=r,
        )
        self.feedback = Counter(
            "model_feedback_targets", "True target values received by /feedback", registry=r
        )
        self.mae = Gauge(
            "model_live_mae",
            "Mean absolute error over the most recent predictions given true values",
            registry=r,
        )
        self.mae.set(math.nan)
        if "test_mae" in held_out:
            Gauge(
                "model_heldout_mae",
                "Mean absolute error of the model on its held-out test split",
                registry=r,
            ).set(held_out["test_mae"])
{%- endif %}
        self.latency = Histogram(
            "model_prediction_latency_seconds",
            "Time to answer a /predict request, model call included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("model_request_errors", "Refused requests", ["reason"], registry=r)
        self.in_flight = Gauge("model_requests_in_flight", "Predictions being computed", registry=r)
        self.unseen = Counter(
            "model_unseen_categories",
            "Request values of categorical features not seen in training",
            ["feature"],
            registry=r,
        )
        for name in schema.names("categorical"):
            self.unseen.labels(name)  # exported from 0, so rate() sees the first one
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
{%- if cookiecutter.problem_type == "classification" %}


class PredictResponse(Answer):
    predictions: list[Label]
    probabilities: list[dict[str, float]] = Field(
        description="each class's probability, keyed by the class as a string"
    )


class BinaryPredictResponse(PredictResponse):
    positive_probabilities: list[float] = Field(
        description="probability of the positive class (/metadata) for each record"
    )


class FeedbackResponse(BaseModel):
    request_id: str
    labelled: int
    live_accuracy: float


class BinaryFeedbackResponse(FeedbackResponse):
    live_recall: float | None = Field(
        description="recall of the positive class over the window; null until one arrived"
    )


class Metadata(ModelMetadata):
    classes: list[Label]
    positive_class: Label | None = Field(description="binary models: the class metrics are about")


def feedback_request_model(schema: DatasetSchema) -> type[FeedbackBody]:
    """True labels must be classes the model knows; the schema lists them."""
    labels = (
        list[Literal[tuple(schema.classes)]],
        Field(min_length=1, description="true class of each predicted record, in order"),
    )
    return create_model("FeedbackRequest", __base__=FeedbackBody, labels=labels)


class Task:
    """Classification: the likeliest class with every class's probability, and live
    accuracy from true labels; a binary model adds its positive class's probability and
    live recall. Binary models get response models of their own, so the OpenAPI schema
    lists exactly the fields each model answers with."""

    def __init__(self, schema: DatasetSchema, metrics: Metrics, settings: Settings) -> None:
        self.metrics = metrics
        self.positive = schema.positive_class
        binary = self.positive is not None
        self.predict_response = BinaryPredictResponse if binary else PredictResponse
        self.feedback_response = BinaryFeedbackResponse if binary else FeedbackResponse
        self.feedback_request = feedback_request_model(schema)
        self.metadata = {"classes": schema.classes, "positive_class": self.positive}
        # (predicted, true) class of the most recent labelled records
        self.window: deque[tuple[Label, Label]] = deque(maxlen=settings.accuracy_window)

    def predict(self, predictor: Predictor, records: Sequence[Record]) -> dict[str, Any]:
        """The answer's prediction fields for a batch of records."""
        probabilities = predictor.predict_proba(records)
        classes = predictor.classes
        names = [str(label) for label in classes]
        fields: dict[str, Any] = {
            "predictions": [classes[i] for i in np.argmax(probabilities, axis=1)],
            "probabilities": [dict(zip(names, map(float, row))) for row in probabilities],
        }
        if self.positive is not None:
            column = probabilities[:, classes.index(self.positive)]
            fields["positive_probabilities"] = column.astype(float).tolist()
        return fields

    def count(self, predictions: list[Label]) -> None:
        for label in predictions:
            self.metrics.predictions.labels(str(label)).inc()

    def truths(self, body: Any) -> list[Label]:
        return list(body.labels)

    def score(self, predictions: list[Label], labels: list[Label]) -> dict[str, Any]:
        """Add a request's labels to the window; the feedback answer's fields. Called
        under the service's lock."""
        self.window.extend(zip(predictions, labels))
        accuracy = sum(p == y for p, y in self.window) / len(self.window)
        self.metrics.feedback.inc(len(labels))
        self.metrics.accuracy.set(accuracy)
        fields: dict[str, Any] = {"labelled": len(labels), "live_accuracy": accuracy}
        if self.metrics.recall is not None:
            recall = self._recall()
            self.metrics.recall.set(math.nan if recall is None else recall)
            fields["live_recall"] = recall
        return fields

    def _recall(self) -> float | None:
        """Share of the window's positive labels predicted positive; None without one."""
        hits = [p == y for p, y in self.window if y == self.positive]
        return sum(hits) / len(hits) if hits else None
{%- else %}


class PredictResponse(Answer):
    predictions: list[float]


class FeedbackRequest(FeedbackBody):
    """True target values (finite numbers) of an earlier request's records, in order."""

    targets: list[float] = Field(min_length=1)


class FeedbackResponse(BaseModel):
    request_id: str
    received: int
    live_mae: float


Metadata = ModelMetadata  # a regression model has no classes


class Task:
    """Regression: one predicted value per record, and live MAE from true values."""

    predict_response = PredictResponse
    feedback_request = FeedbackRequest
    feedback_response = FeedbackResponse
    metadata: dict[str, Any] = {}

    def __init__(self, schema: DatasetSchema, metrics: Metrics, settings: Settings) -> None:
        self.metrics = metrics
        # absolute errors of the most recent predictions given a true value
        self.window: deque[float] = deque(maxlen=settings.mae_window)

    def predict(self, predictor: Predictor, records: Sequence[Record]) -> dict[str, Any]:
        """The answer's prediction fields for a batch of records."""
        return {"predictions": [float(value) for value in predictor.predict(records)]}

    def count(self, predictions: list[float]) -> None:
        self.metrics.predictions.inc(len(predictions))
        for value in predictions:
            self.metrics.predicted_value.observe(value)

    def truths(self, body: Any) -> list[float]:
        return list(body.targets)

    def score(self, predictions: list[float], targets: list[float]) -> dict[str, Any]:
        """Add a request's errors to the window; the feedback answer's fields. Called
        under the service's lock."""
        self.window.extend(abs(p - y) for p, y in zip(predictions, targets))
        mae = sum(self.window) / len(self.window)
        self.metrics.feedback.inc(len(targets))
        self.metrics.mae.set(mae)
        return {"received": len(targets), "live_mae": mae}
{%- endif %}


class Service:
    """Mutable state behind the endpoints: the model, recent predictions, live monitors."""

    def __init__(self, settings: Settings, bundle: ServingBundle) -> None:
        self.settings = settings
        self.bundle = bundle
        schema = bundle.schema
        self.metrics = Metrics(schema, bundle.metadata.get("metrics", {}))
        self.task = Task(schema, self.metrics, settings)
        self.seen = {
            f.name: frozenset(f.categories) for f in schema.features if f.kind == "categorical"
        }
        self.predictor: Predictor | None = None
        self.drift: LiveDriftMonitor | None = None
        self.load_error: str | None = None
        self.recent: OrderedDict[str, list[Any]] = OrderedDict()
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

    async def predict(self, records: Sequence[Record]) -> dict[str, Any]:
        """The task's prediction fields; a slow predictor runs in a worker thread, so the
        event loop keeps answering /health and /metrics meanwhile."""
        if self.predictor.offload:
            return await run_in_threadpool(self.task.predict, self.predictor, records)
        return self.task.predict(self.predictor, records)

    def warnings(self, records: Sequence[Record]) -> list[str]:
        """One line per unseen category value, each also counted for its feature."""
        found = unseen_categories(records, self.seen)
        for _, name, _ in found:
            self.metrics.unseen.labels(name).inc()
        return [
            f"records.{index}.{name}: category {value!r} was not seen in training"
            for index, name, value in found
        ]

    def remember(self, request_id: str, predictions: list[Any]) -> None:
        with self.lock:
            self.recent[request_id] = predictions
            while len(self.recent) > self.settings.feedback_capacity:
                self.recent.popitem(last=False)

    def record_feedback(self, request_id: str, truths: list[Any]) -> dict[str, Any] | None:
        """The feedback answer's fields; None for an unknown request or a wrong length."""
        with self.lock:
            predictions = self.recent.get(request_id)
            if predictions is None or len(predictions) != len(truths):
                return None
            del self.recent[request_id]
            return self.task.score(predictions, truths)

    def refresh_drift_gauges(self) -> None:
        """Test the live window (CPU work: call it from a worker thread)."""
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


CLIENT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Malformed JSON"},
    422: {"model": Problem, "description": "A field is missing, unknown or invalid"},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for one serving bundle; the model itself loads in the background."""
    settings = settings or Settings()
    service = Service(settings, open_bundle(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=service.load, name="model-loader", daemon=True).start()
        yield

    app = FastAPI(
        title="{{ cookiecutter.project_name }}",
        description="Predictions, feedback and monitoring for the champion model.",
        version=service.bundle.metadata["version"],
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        malformed = any(error["type"] == "json_invalid" for error in errors)
        service.metrics.errors.labels("malformed_json" if malformed else "validation").inc()
        return problem(400 if malformed else 422, describe(errors))

    add_status_routes(app, service)
    add_model_routes(app, service)
    return app


def add_status_routes(app: FastAPI, service: Service) -> None:
    """/health, /ready, /metadata and /metrics: what runs, and how it is doing."""
    metadata = service.bundle.metadata

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

    @app.get("/metadata", response_model=Metadata)
    async def model_metadata() -> Metadata:
        """What is being served: model, version, training metrics, feature schema."""
        return Metadata(
            name=metadata["name"],
            version=metadata["version"],
            alias=metadata["alias"],
            runtime=service.predictor.runtime if service.predictor else None,
            metrics=metadata.get("metrics", {}),
            features=[FeatureInfo(**f.model_dump()) for f in service.bundle.schema.features],
            **service.task.metadata,
        )

    @app.get("/metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus exposition format."""
        await run_in_threadpool(service.refresh_drift_gauges)
        registry = service.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def add_model_routes(app: FastAPI, service: Service) -> None:
    """/predict and /feedback, with request and response models built for the bundle."""
    metrics, task = service.metrics, service.task
    metadata = service.bundle.metadata
    model_ref = ModelRef(name=metadata["name"], version=metadata["version"])
    PredictRequest = predict_request_model(service.bundle.schema, service.settings.max_batch_size)
    FeedbackRequest = task.feedback_request
    not_loaded = {"model": Problem, "description": "Model not loaded"}

    @app.post(
        "/predict",
        response_model=task.predict_response,
        responses={**CLIENT_ERRORS, 503: not_loaded},
    )
    async def predict(body: PredictRequest) -> BaseModel | JSONResponse:  # type: ignore
        """Predictions for one record or a batch; null features are imputed as in training."""
        if service.predictor is None:
            metrics.errors.labels("not_ready").inc()
            return problem(503, "the model is not loaded yet; see /ready")
        start = time.perf_counter()
        with metrics.in_flight.track_inprogress():
            records = [record.model_dump(by_alias=True) for record in body.records]
            fields = await service.predict(records)
        metrics.latency.observe(time.perf_counter() - start)
        task.count(fields["predictions"])
        warnings = service.warnings(records)
        service.drift.observe(records)
        request_id = uuid.uuid4().hex
        service.remember(request_id, fields["predictions"])
        return task.predict_response(
            request_id=request_id, model=model_ref, warnings=warnings, **fields
        )

    @app.post(
        "/feedback",
        response_model=task.feedback_response,
        responses={**CLIENT_ERRORS, 404: {"model": Problem, "description": "Unknown request"}},
    )
    async def feedback(body: FeedbackRequest) -> BaseModel | JSONResponse:  # type: ignore
        """True values for an earlier /predict request's records; updates live quality."""
        truths = task.truths(body)
        fields = service.record_feedback(body.request_id, truths)
        if fields is None:
            metrics.errors.labels("unknown_request").inc()
            return problem(
                404,
                f"request_id: no prediction {body.request_id!r} awaiting feedback for "
                f"{len(truths)} records (unknown, expired or already answered)",
            )
        return task.feedback_response(request_id=body.request_id, **fields)
