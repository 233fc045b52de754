"""``create_app``: the FastAPI app for one serving bundle."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import describe_errors

from .routes import model_router, problem, status_router
from .service import Service, open_bundle
from .settings import Settings


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """400 for malformed JSON, 422 for a body that breaks the schema; one line naming
    each field, counted by reason."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    malformed = any(error["type"] == "json_invalid" for error in errors)
    service: Service = request.app.state.service
    service.metrics.errors.labels("malformed_json" if malformed else "validation").inc()
    return problem(400 if malformed else 422, describe_errors(errors, skip={"body"}, root="body"))


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The app for one service: by default the bundle the settings point to, loaded in the
    background once the app starts. A given service (loaded or not) is served as is."""
    if service is None:
        settings = settings or Settings()
        service = Service(settings, open_bundle(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="{{ cookiecutter.project_name }}",
        description="Predictions, feedback and monitoring for the champion model.",
        version=service.bundle.metadata["version"],
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_exception_handler(RequestValidationError, invalid_request)
    # /predict first: FastAPI keeps included routers as they are and tries them in order,
    # so the route taking nearly all the traffic is matched before the status routes.
    app.include_router(model_router(service))
    app.include_router(status_router)
    return app
