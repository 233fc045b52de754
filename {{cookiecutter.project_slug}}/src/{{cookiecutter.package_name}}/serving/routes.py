"""The endpoints. Status routes read the service from the app (``Depends``); the model
routes are built per bundle, because their request and response models come from its
schema."""

# No `from __future__ import annotations` here: FastAPI must see the request models built
# in model_router as classes, not as strings it cannot resolve.

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from .records import SOURCE_ERRORS, predict_request_model
from .schemas import (
    CLIENT_ERRORS,
    FeatureInfo,
    FeedbackBody,
    LookupFailed,
    ModelRef,
    Problem,
    Status,
)
from .service import Service
from .task import Metadata


async def current_service(request: Request) -> Service:
    """The app's service (async: a plain function would cost a thread hop per request)."""
    service: Service = request.app.state.service
    return service


CurrentService = Annotated[Service, Depends(current_service)]
NOT_LOADED = {"model": Problem, "description": "Model not loaded"}

status_router = APIRouter()


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def answer(body: BaseModel) -> Response:
    """A model's own JSON, as is. Returned as a model, FastAPI would dump it, validate it
    against the route's response model and encode it again: three passes per request for
    a body built from that model (the route's ``response_model`` still documents it)."""
    return Response(body.model_dump_json(), media_type="application/json")


@status_router.get("/health", response_model=Status)
async def health() -> Status:
    """Liveness: the process answers."""
    return Status(status="ok")


@status_router.get("/ready", response_model=Status, responses={503: {"model": Status}})
async def ready(service: CurrentService) -> Status | JSONResponse:
    """Readiness: 200 once the model is loaded."""
    if service.predictor is not None:
        return Status(status="ready")
    body = Status(status="failed" if service.load_error else "loading", detail=service.load_error)
    return JSONResponse(status_code=503, content=body.model_dump())


@status_router.get("/metadata", response_model=Metadata)
async def model_metadata(service: CurrentService) -> Metadata:
    """What is being served: model, version, training metrics, feature schema."""
    metadata = service.bundle.metadata
    return Metadata(
        name=metadata["name"],
        version=metadata["version"],
        alias=metadata["alias"],
        runtime=service.predictor.runtime if service.predictor else None,
        metrics=metadata.get("metrics", {}),
        features=[FeatureInfo(**f.model_dump()) for f in service.bundle.schema.features],
        **service.task.metadata,
    )


@status_router.get("/metrics", response_class=Response)
async def prometheus_metrics(service: CurrentService) -> Response:
    """Prometheus exposition format: the current values, nothing computed here."""
    registry = service.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def model_router(service: Service) -> APIRouter:
    """/predict and /feedback, with request and response models built for the bundle."""
    router = APIRouter()
    add_predict(router, service)
    add_feedback(router, service)
    return router


def add_predict(router: APIRouter, service: Service) -> None:
    """POST /predict: records (or what stands for them) in, the task's answer out."""
    task, metrics = service.task, service.metrics
    metadata = service.bundle.metadata
    model_ref = ModelRef(name=metadata["name"], version=metadata["version"])
    PredictRequest = predict_request_model(service.bundle.schema, service.settings.max_batch_size)

    @router.post(
        "/predict",
        response_model=task.predict_response,
        responses={**CLIENT_ERRORS, **SOURCE_ERRORS, 503: NOT_LOADED},
    )
    # The request models are classes built at run time, which mypy cannot take as types.
    async def predict(
        body: PredictRequest,  # type: ignore[valid-type]
    ) -> Response:
        """Predictions for one record or a batch; null features are imputed as in training."""
        batcher, drift, source = service.batcher, service.drift, service.source
        if batcher is None or drift is None or source is None:
            metrics.errors.labels("not_ready").inc()
            return problem(503, "the model is not loaded yet; see /ready")
        start = time.perf_counter()
        with metrics.in_flight.track_inprogress():
            try:
                records = await source.records(body)
            except LookupFailed as failed:
                metrics.errors.labels(failed.reason).inc()
                return problem(failed.status, failed.detail)
            fields = await batcher.predict(records)
        metrics.latency.observe(time.perf_counter() - start)
        task.count(fields["predictions"])
        warnings = service.warnings(records)
        drift.observe(records)
        request_id = secrets.token_hex(16)  # 128 random bits, as a uuid4; 4x faster
        service.remember(request_id, fields["predictions"])
        return answer(
            task.predict_response(
                request_id=request_id, model=model_ref, warnings=warnings, **fields
            )
        )


def add_feedback(router: APIRouter, service: Service) -> None:
    """POST /feedback: the true values of an earlier prediction, scored live."""
    task, metrics = service.task, service.metrics
    FeedbackRequest = task.feedback_request

    @router.post(
        "/feedback",
        response_model=task.feedback_response,
        responses={**CLIENT_ERRORS, 404: {"model": Problem, "description": "Unknown request"}},
    )
    async def feedback(
        body: FeedbackRequest,  # type: ignore[valid-type]
    ) -> Response:
        """True values for an earlier /predict request's records; updates live quality."""
        sent: FeedbackBody = body
        truths = task.truths(sent)
        fields = service.record_feedback(sent.request_id, truths)
        if fields is None:
            metrics.errors.labels("unknown_request").inc()
            return problem(
                404,
                f"request_id: no prediction {sent.request_id!r} awaiting feedback for "
                f"{len(truths)} records (unknown, expired or already answered)",
            )
        return answer(task.feedback_response(request_id=sent.request_id, **fields))
