"""The service's settings: environment variables, e.g. ``MODEL_PATH=/models/serving``."""

from pathlib import Path

from pydantic import Field

from .task import TaskSettings


class Settings(TaskSettings):
    """Read once, when the app is created; the problem type's own settings come from
    ``TaskSettings``."""

    model_path: Path = Path("models/serving")
    model_uri: str | None = Field(
        None, description="models:/<name>@<alias>: download into model_path at start-up"
    )
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    max_batch_size: int = Field(256, ge=1)
    feedback_capacity: int = Field(10_000, ge=1)
    prefer_onnx: bool = True
    drift_interval: float = Field(
        10.0, gt=0, description="seconds between live drift computations while requests arrive"
    )
    drift_records: int = Field(
        500, ge=1, description="new records that trigger a drift computation before the interval"
    )
    drift_process: bool = Field(
        True,
        description="compute live drift in a process of its own, so its statistics never "
        "hold the GIL the requests need; false: in a thread, saving that process's memory",
    )
    shutdown_timeout: float = Field(
        20.0,
        gt=0,
        description="seconds in-flight requests get to finish after SIGTERM; keep it below "
        "the pod's terminationGracePeriodSeconds minus its preStop pause",
    )
{%- if cookiecutter.feature_store == "feast" %}
    feature_repo: Path = Field(
        Path("feature_repo"), description="the Feast repository whose online store entity "
        "requests read (feature_store.yaml, registry, online store)"
    )
    feature_service: str = "{{ cookiecutter.package_name }}_model"
{%- endif %}
