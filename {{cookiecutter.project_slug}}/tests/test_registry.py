"""Training logs to MLflow and the registry moves ``champion`` only for a better model.

One temporary sqlite tracking database serves the whole module: creating one costs
seconds, and the steps below build on each other like consecutive pipeline runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import evaluate, registry, train
from {{ cookiecutter.package_name }}.config import ProjectConfig
from {{ cookiecutter.package_name }}.data import fetch
from {{ cookiecutter.package_name }}.errors import PipelineError, ThresholdError
from {{ cookiecutter.package_name }}.model_io import CHAMPION
from {{ cookiecutter.package_name }}.task_config import LOWER_IS_BETTER

from shared_fixtures import QUICK_SETTINGS, WEAK_SETTINGS, hyperparameters, override
from store_support import copy_inputs, prepare_for_training
from task_support import PROMOTIONS, assert_plausible_scores


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory, config: ProjectConfig) -> Iterator[Path]:
    """A project directory ready for ``train``, with its own tracking database."""
    root = tmp_path_factory.mktemp("tracked")
    copy_inputs(root, config)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        fetch(config)
        prepare_for_training(config)
        yield root


@pytest.fixture(scope="module")
def client(tracked: Path) -> MlflowClient:
    return MlflowClient()


def train_and_promote(config: ProjectConfig) -> tuple[registry.Registration, registry.Promotion]:
    registration = train.run(config)
    evaluate.run(config)
    return registration, registry.promote(config)


@pytest.fixture(scope="module")
def first(tracked: Path, config: ProjectConfig):
    quick = override(
        config,
        training={"cv_folds": 3},
        model=hyperparameters(QUICK_SETTINGS[config.model.algorithm]),
    )
    return train_and_promote(quick)


def test_run_is_logged_with_params_and_metrics(
    first, client: MlflowClient, config: ProjectConfig
) -> None:
    registration, _ = first
    run = client.get_run(registration.run_id)
    assert run.data.params["model.algorithm"] == config.model.algorithm
    for name, value in QUICK_SETTINGS[config.model.algorithm].items():
        assert run.data.params[f"hyperparameters.{name}"] == str(value)
    assert run.data.params["training.cv_folds"] == "3"
    assert_plausible_scores(run.data.metrics)


def test_model_is_registered_with_signature(first, client: MlflowClient, schema) -> None:
    registration, _ = first
    version = client.get_model_version(registration.model_name, registration.version)
    assert version.run_id == registration.run_id
    from mlflow.models import get_model_info

    info = get_model_info(f"models:/{registration.model_name}/{registration.version}")
    assert info.signature.inputs.input_names() == schema.names()


def test_first_model_becomes_champion(first, client: MlflowClient) -> None:
    registration, promotion = first
    assert promotion.promoted and promotion.previous_champion_version is None
    for alias in (registry.CHALLENGER, CHAMPION):
        version = client.get_model_version_by_alias(registration.model_name, alias).version
        assert str(version) == registration.version


def test_worse_model_stays_challenger(first, config: ProjectConfig, client) -> None:
    champion, _ = first
    worse = override(
        config,
        training={"cv_folds": 2},
        model=hyperparameters(WEAK_SETTINGS[config.model.algorithm]),
        evaluation={"thresholds": {}, "min_improvement": 0.0},
    )
    registration, promotion = train_and_promote(worse)
    assert registration.version != champion.version
    assert not promotion.promoted
    assert promotion.reason == "does not beat the champion"
    champion_score = promotion.previous_champion_score
    assert champion_score is not None
    if promotion.metric in LOWER_IS_BETTER:
        assert promotion.challenger_score > champion_score  # a larger error
    else:
        assert promotion.challenger_score < champion_score
    name = registration.model_name
    aliased = {
        alias: str(client.get_model_version_by_alias(name, alias).version)
        for alias in (CHAMPION, registry.CHALLENGER)
    }
    expected = {CHAMPION: champion.version, registry.CHALLENGER: registration.version}
    assert aliased == expected


@pytest.mark.parametrize(("metric", "challenger", "champion", "promoted"), PROMOTIONS)
def test_decide(metric: str, challenger: float, champion: float | None, promoted: bool) -> None:
    """Lower is better for errors, higher for scores; a tie keeps the champion."""
    assert registry.decide(metric, challenger, champion) is promoted


def test_promote_refuses_a_challenger_that_failed_the_gate(first, config: ProjectConfig) -> None:
    """``promote`` run by hand after a failed ``evaluate`` must not crown the model."""
    unreachable = override(config, evaluation={"min_improvement": 1.0})
    with pytest.raises(ThresholdError, match="evaluation.min_improvement"):
        registry.promote(unreachable)


def test_promote_before_train_names_the_step(project_dir: Path, config: ProjectConfig) -> None:
    with pytest.raises(PipelineError, match="registration_path: .* run the train step first"):
        registry.promote(config)


def test_service_loads_the_champion_from_the_registry(first, tracked: Path) -> None:
    """MODEL_URI: the service downloads the champion's bundle at start-up and serves it."""
    from fastapi.testclient import TestClient

    from {{ cookiecutter.package_name }}.serving import Settings, create_app

    registration, _ = first
    settings = Settings(
        model_uri=f"models:/{registration.model_name}@{CHAMPION}",
        model_path=tracked / "downloaded-bundle",
        mlflow_tracking_uri=f"sqlite:///{tracked / 'mlflow.db'}",
    )
    with TestClient(create_app(settings)) as client:
        metadata = client.get("/metadata").json()
    assert (metadata["version"], metadata["alias"]) == (registration.version, "champion")
    assert (tracked / "downloaded-bundle" / "model.onnx").is_file()


def test_champion_of_another_schema_gives_way(
    first, tracked: Path, config: ProjectConfig, client: MlflowClient
) -> None:
    """The team adds a column: the old champion cannot be scored on the new data, so the
    challenger, which passed the gate, becomes champion and promotion.json says why."""
    raw_path = tracked / config.data.raw_path
    original = raw_path.read_bytes()
    raw = pd.read_csv(raw_path)
    raw["added_feature"] = np.random.default_rng(0).normal(size=len(raw))
    raw.to_csv(raw_path, index=False)
    name = config.mlflow.registered_model_name
    previous = str(client.get_model_version_by_alias(name, CHAMPION).version)
    settings = hyperparameters(QUICK_SETTINGS[config.model.algorithm])
    quick = override(config, training={"cv_folds": 2}, model=settings)
    try:
        prepare_for_training(quick)
        registration, promotion = train_and_promote(quick)
    finally:  # the module's other tests expect the original data
        raw_path.write_bytes(original)
        prepare_for_training(config)
    assert promotion.promoted
    assert promotion.previous_champion_version == previous
    assert promotion.previous_champion_score is None
    assert f"champion version {previous} was trained on other data" in promotion.reason
    assert "added ['added_feature']" in promotion.reason
    champion = client.get_model_version_by_alias(name, CHAMPION)
    assert str(champion.version) == registration.version
