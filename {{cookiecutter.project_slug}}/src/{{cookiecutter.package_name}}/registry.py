"""Model registry with aliases: each new version is the ``challenger``; it becomes the
``champion`` only if it beats the current champion on the same held-out data.

Aliases replace MLflow's deprecated stages; serving code asks for ``models:/<name>@champion``.
A champion trained on other data (another target, other classes or features) cannot be
scored on today's held-out split: then the challenger, which passed the gate, takes over,
and ``metrics/promotion.json`` says why.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from . import task
from .config import ProjectConfig
from .data import load_schema, load_split
from .errors import require_file
from .evaluate import BASELINE_PREFIX, METRICS_FILE, check_gate
from .model_io import CHAMPION, SERVING_ARTIFACTS
from .reports import read_json, write_json
from .schema import SCHEMA_FILE, DatasetSchema
from .task_config import LOWER_IS_BETTER

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
PROMOTION_FILE = "promotion.json"


@dataclass(frozen=True)
class Registration:
    """The model version one training run registered; DVC passes it from train to promote."""

    model_name: str
    version: str
    run_id: str

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Registration:
        return cls(**read_json(path))


@dataclass(frozen=True)
class Promotion:
    metric: str
    challenger_version: str
    challenger_score: float
    previous_champion_version: str | None
    previous_champion_score: float | None
    promoted: bool
    reason: str


def connect(config: ProjectConfig) -> MlflowClient:
    """Point MLflow at the configured tracking URI (``MLFLOW_TRACKING_URI`` wins)."""
    mlflow.set_tracking_uri(config.mlflow.resolved_tracking_uri())
    return MlflowClient()


def mark_challenger(client: MlflowClient, registration: Registration) -> None:
    client.set_registered_model_alias(registration.model_name, CHALLENGER, registration.version)


def version_with_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding ``alias``, or None: read from the model's alias map, because
    MLflow's stores report a missing alias with different error codes."""
    version = client.get_registered_model(name).aliases.get(alias)
    return None if version is None else client.get_model_version(name, str(version))


def trained_schema(run_id: str) -> DatasetSchema:
    """The data schema a run trained on, from the serving files it logged."""
    with tempfile.TemporaryDirectory() as scratch:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"{SERVING_ARTIFACTS}/{SCHEMA_FILE}", dst_path=scratch
        )
        return DatasetSchema.load(Path(path))


def decide(metric: str, challenger_score: float, champion_score: float | None) -> bool:
    """Promote when there is no comparable champion, or the challenger is strictly better:
    a lower error for rmse and mae, a higher score otherwise. A tie keeps the champion."""
    if champion_score is None:
        return True
    if metric in LOWER_IS_BETTER:
        return challenger_score < champion_score
    return challenger_score > champion_score


def check_evaluated(config: ProjectConfig) -> dict[str, float]:
    """The challenger's held-out metrics, if it passed the gate (promote run by hand after
    a failed evaluate must not promote it)."""
    path = Path(config.artifacts.metrics_dir) / METRICS_FILE
    written = read_json(require_file(path, "artifacts.metrics_dir", "evaluate"))
    numbers = {k: v for k, v in written.items() if isinstance(v, (int, float))}
    metrics = {k: v for k, v in numbers.items() if not k.startswith(BASELINE_PREFIX)}
    baseline = {
        k.removeprefix(BASELINE_PREFIX): v
        for k, v in numbers.items()
        if k.startswith(BASELINE_PREFIX)
    }
    check_gate(metrics, baseline, config.evaluation)
    return numbers


def promote(config: ProjectConfig) -> Promotion:
    """Step ``promote``: log held-out metrics to the run, then move ``champion`` if earned."""
    path = Path(config.artifacts.registration_path)
    registration = Registration.load(require_file(path, "artifacts.registration_path", "train"))
    evaluated = check_evaluated(config)
    client = connect(config)
    for metric, value in evaluated.items():
        client.log_metric(registration.run_id, f"test_{metric}", value)

    schema = load_schema(config)
    metric = config.evaluation.primary_metric
    name = registration.model_name
    # evaluate scored the challenger on the test split already: only a comparable
    # champion is loaded and scored here, on the same split.
    challenger_score = evaluated[metric]
    champion = version_with_alias(client, name, CHAMPION)
    champion_score, reason = compare(client, champion, registration, schema)
    if reason is None and champion is not None:
        features, target = load_split(config, "test")
        model = mlflow.sklearn.load_model(f"models:/{name}@{CHAMPION}")
        champion_score = task.compute_metrics(model, features, target, schema)[metric]
    promoted = decide(metric, challenger_score, champion_score)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, registration.version)
    result = Promotion(
        metric=metric,
        challenger_version=registration.version,
        challenger_score=challenger_score,
        previous_champion_version=str(champion.version) if champion else None,
        previous_champion_score=champion_score,
        promoted=promoted,
        reason=reason or ("beats the champion" if promoted else "does not beat the champion"),
    )
    write_json(Path(config.artifacts.metrics_dir) / PROMOTION_FILE, asdict(result))
    log.info("%s version %s: %s", name, registration.version, promotion_summary(result))
    return result


def compare(
    client: MlflowClient,
    champion: ModelVersion | None,
    registration: Registration,
    schema: DatasetSchema,
) -> tuple[float | None, str | None]:
    """(champion score, reason) when the champion cannot be scored against the challenger;
    (None, None) when it can and must be."""
    if champion is None:
        return None, "no champion yet"
    if str(champion.version) == registration.version:
        return None, "already the champion (promote ran again)"
    changed = schema.differences(trained_schema(str(champion.run_id)))
    if changed:
        return None, (
            f"champion version {champion.version} was trained on other data "
            f"({'; '.join(changed)}), so it is not comparable; the challenger passed the gate"
        )
    return None, None


def promotion_summary(result: Promotion) -> str:
    if result.promoted:
        score = f"{result.metric} {result.challenger_score:.4f}"
        return f"promoted to {CHAMPION} ({score}; {result.reason})"
    if result.previous_champion_score is None:
        return f"stays {CHALLENGER}: {result.reason}"
    return (
        f"stays {CHALLENGER}: {result.metric} {result.challenger_score:.4f} does not beat "
        f"{CHAMPION} version {result.previous_champion_version} "
        f"({result.previous_champion_score:.4f})"
    )
