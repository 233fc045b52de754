"""Model registry with aliases: each new version is the ``challenger``; it becomes the
``champion`` only if it beats the current champion on the same held-out data.

Aliases replace MLflow's deprecated stages; serving code asks for ``models:/<name>@champion``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from .config import {{ "LOWER_IS_BETTER, " if cookiecutter.problem_type == "regression" else "" }}ProjectConfig
from .data import load_split
from .evaluate import METRICS_FILE, compute_metrics
from .model_io import CHAMPION
from .reports import read_json, write_json

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


def held_out_score(model_uri: str, config: ProjectConfig) -> float:
    """Score a registered model on the current held-out split with the primary metric."""
    features, target = load_split(config, "test")
    model = mlflow.sklearn.load_model(model_uri)
    return compute_metrics(model, features, target)[config.evaluation.primary_metric]
{%- if cookiecutter.problem_type == "classification" %}


def decide(challenger_score: float, champion_score: float | None) -> bool:
    """Promote when there is no champion yet, or the challenger is strictly better."""
    return champion_score is None or challenger_score > champion_score
{%- else %}


def decide(metric: str, challenger_score: float, champion_score: float | None) -> bool:
    """Promote when there is no champion yet, or the challenger is strictly better:
    a lower error for rmse and mae, a higher score for r2."""
    if champion_score is None:
        return True
    if metric in LOWER_IS_BETTER:
        return challenger_score < champion_score
    return challenger_score > champion_score
{%- endif %}


def promote(config: ProjectConfig) -> Promotion:
    """Step ``promote``: log held-out metrics to the run, then move ``champion`` if earned."""
    registration = Registration.load(Path(config.artifacts.registration_path))
    client = connect(config)
    metrics_dir = Path(config.artifacts.metrics_dir)
    for metric, value in read_json(metrics_dir / METRICS_FILE).items():
        client.log_metric(registration.run_id, f"test_{metric}", value)

    name = registration.model_name
    challenger_score = held_out_score(f"models:/{name}/{registration.version}", config)
    champion = version_with_alias(client, name, CHAMPION)
    if champion is None:
        champion_score = None
    elif str(champion.version) == registration.version:
        champion_score = challenger_score  # promote re-run: already the champion
    else:
        champion_score = held_out_score(f"models:/{name}@{CHAMPION}", config)
{%- if cookiecutter.problem_type == "classification" %}
    promoted = decide(challenger_score, champion_score)
{%- else %}
    promoted = decide(config.evaluation.primary_metric, challenger_score, champion_score)
{%- endif %}
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, registration.version)
    result = Promotion(
        metric=config.evaluation.primary_metric,
        challenger_version=registration.version,
        challenger_score=challenger_score,
        previous_champion_version=str(champion.version) if champion else None,
        previous_champion_score=champion_score,
        promoted=promoted,
    )
    write_json(metrics_dir / PROMOTION_FILE, asdict(result))
    log.info("%s version %s: %s", name, registration.version, promotion_summary(result))
    return result


def promotion_summary(result: Promotion) -> str:
    if result.promoted:
        return f"promoted to {CHAMPION} ({result.metric} {result.challenger_score:.4f})"
    return (
        f"stays {CHALLENGER}: {result.metric} {result.challenger_score:.4f} does not beat "
        f"{CHAMPION} version {result.previous_champion_version} "
        f"({result.previous_champion_score:.4f})"
    )
