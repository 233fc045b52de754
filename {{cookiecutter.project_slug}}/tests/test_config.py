"""The config file is the single source of truth, so bad values must fail loudly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import ALGORITHMS, ProjectConfig, load_config
from {{ cookiecutter.package_name }}.errors import ConfigError

from shared_fixtures import CONFIG_PATH
from task_support import BAD_EVALUATION, BAD_LINEAR, Mutation

# One out-of-range value per algorithm.
BAD_HYPERPARAMETER = {
    "random_forest": ("n_estimators", 0),
    "gradient_boosting": ("learning_rate", 0.0),
    "linear": BAD_LINEAR,
}


def test_real_config_is_valid(config: ProjectConfig) -> None:
    assert config.model.algorithm in ALGORITHMS
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
        (lambda c: c["model"]["hyperparameters"].update(no_such_setting=1),
         "model.hyperparameters.no_such_setting"),
        (lambda c: c["model"].update(algorithm="svm"), "model"),
        (lambda c: c["preprocessing"]["numeric"].update(scaling="log"),
         "preprocessing.numeric.scaling"),
        (lambda c: c["data"].update(drop_columns=[c["data"]["target"]]), "data.drop_columns"),
        (lambda c: c["data"].update(drop_columns=["id", "id"]), "data.drop_columns"),
        (lambda c: c["data"].update(drop_columns="id"), "data.drop_columns"),
        (lambda c: c["data"].update(missing_target="impute"), "data.missing_target"),
        (lambda c: c["evaluation"].update(min_improvement=1.5), "evaluation.min_improvement"),
        (lambda c: c["evaluation"].update(min_improvement=-0.1), "evaluation.min_improvement"),
        *BAD_EVALUATION,
        (lambda c: c.pop("mlflow"), "mlflow"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path: Path, mutate: Mutation, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_mutated(tmp_path, mutate))
    message = str(error.value)
    assert f"{key}:" in message
    assert "\n" not in message


def test_bad_hyperparameter_is_rejected_naming_the_key(
    tmp_path: Path, config: ProjectConfig
) -> None:
    name, value = BAD_HYPERPARAMETER[config.model.algorithm]
    path = write_mutated(tmp_path, lambda c: c["model"]["hyperparameters"].update({name: value}))
    with pytest.raises(ConfigError, match=f"model.hyperparameters.{name}: "):
        load_config(path)


def test_hyperparameters_must_fit_the_algorithm(tmp_path: Path, config: ProjectConfig) -> None:
    """Switching the algorithm means switching its settings too: leftovers are refused."""
    own = next(iter(config.model.hyperparameters.model_dump()))  # unique to each algorithm
    for algorithm in set(ALGORITHMS) - {config.model.algorithm}:
        path = write_mutated(tmp_path, lambda c: c["model"].update(algorithm=algorithm))
        with pytest.raises(ConfigError, match=f"model.hyperparameters.{own}: Extra inputs"):
            load_config(path)


def test_linear_model_needs_scaled_features(tmp_path: Path) -> None:
    def unscaled_linear(raw: dict[str, Any]) -> None:
        raw["model"].update(algorithm="linear", hyperparameters={})
        raw["preprocessing"]["numeric"]["scaling"] = "none"

    with pytest.raises(ConfigError) as error:
        load_config(write_mutated(tmp_path, unscaled_linear))
    assert str(error.value).endswith(
        "preprocessing.numeric.scaling: model 'linear' needs scaled features (standard or minmax)"
    )


def test_a_rule_over_a_section_is_one_line_naming_its_key(tmp_path: Path) -> None:
    path = write_mutated(tmp_path, lambda c: c["monitoring"].update(min_window=900))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).endswith(
        "monitoring.min_window: must not exceed monitoring.window_size"
    )


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
