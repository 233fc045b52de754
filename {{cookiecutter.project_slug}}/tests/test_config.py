"""The config file is the single source of truth, so bad values must fail loudly."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import ProjectConfig, load_config
from {{ cookiecutter.package_name }}.errors import ConfigError

from conftest import CONFIG_PATH

Mutation = Callable[[dict[str, Any]], None]


def test_real_config_is_valid(config: ProjectConfig) -> None:
    assert config.model.algorithm == "random_forest"
    assert 0 < config.training.test_size < 1
    assert config.evaluation.primary_metric in config.evaluation.thresholds.model_dump()


def write_mutated(tmp_path: Path, mutate: Mutation) -> Path:
    raw = yaml.safe_load(CONFIG_PATH.read_text())
    mutate(raw)
    path = tmp_path / "model_config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c["training"].update(epochs=3), "training.epochs"),
        (lambda c: c.update(extras={}), "extras"),
        (lambda c: c["training"].update(cv_folds="five"), "training.cv_folds"),
        (lambda c: c["training"].update(test_size=1.5), "training.test_size"),
        (lambda c: c["model"]["hyperparameters"].update(n_estimators=0),
         "model.hyperparameters.n_estimators"),
        (lambda c: c["model"]["hyperparameters"].update(learning_rate=0.1),
         "model.hyperparameters.learning_rate"),
        (lambda c: c["model"].update(algorithm="svm"), "model.algorithm"),
        (lambda c: c["preprocessing"]["numeric"].update(scaling="log"),
         "preprocessing.numeric.scaling"),
        (lambda c: c["evaluation"]["thresholds"].update(roc_auc=1.2),
         "evaluation.thresholds.roc_auc"),
        (lambda c: c.pop("mlflow"), "mlflow"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path: Path, mutate: Mutation, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_mutated(tmp_path, mutate))
    message = str(error.value)
    assert f"{key}:" in message
    assert "\n" not in message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("model: [unclosed", "not valid YAML"), ("- a\n- b\n", "must be a mapping")],
)
def test_unreadable_yaml_is_reported(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "model_config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_environment_overrides_tracking_uri(
    config: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert config.mlflow.resolved_tracking_uri() == config.mlflow.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert config.mlflow.resolved_tracking_uri() == "http://127.0.0.1:5000"
