"""The prediction service: FastAPI over a serving bundle, with Prometheus metrics.

Run it with ``{{ cookiecutter.project_slug }} serve`` (port 8080). Settings come from environment
variables (``settings.Settings``). One module per job:

- ``settings``: the environment variables the service reads;
- ``schemas``: request and response models, the request's built from the bundle's schema;
- ``records``: the /predict body's model and where its records come from;
- ``task``: what depends on the problem type (the answer's fields, feedback, live quality);
- ``metrics``: the Prometheus metrics every model exports;
- ``drift``: the background worker that keeps the live drift gauges current;
- ``service``: the state behind the endpoints, and loading the model;
- ``routes``: the endpoints, on routers that read the service from the app;
- ``app``: ``create_app``, which puts these together.
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
