"""Load and validate ``config/model_config.yaml``, the project's single source of truth.

This is the only module that reads the YAML. Everything else receives a validated
``ProjectConfig``, so a typo or a wrong type fails here, once, with the key named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from .errors import ConfigError, describe_errors
from .sections import Section
from .task_config import (
    EvaluationSection,
    GradientBoostingParams,
    LinearParams,
    RandomForestParams,
)

DEFAULT_CONFIG_PATH = Path("config/model_config.yaml")


class _Model(Section):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)


class RandomForestModel(_Model):
    algorithm: Literal["random_forest"]
    hyperparameters: RandomForestParams = RandomForestParams()


class GradientBoostingModel(_Model):
    algorithm: Literal["gradient_boosting"]
    hyperparameters: GradientBoostingParams = GradientBoostingParams()


class LinearModel(_Model):
    algorithm: Literal["linear"]
    hyperparameters: LinearParams = LinearParams()


# `algorithm` picks the class that validates `hyperparameters`, so each model accepts
# exactly its own settings.
ModelSection = Annotated[
    RandomForestModel | GradientBoostingModel | LinearModel, Field(discriminator="algorithm")
]
ALGORITHMS = ("random_forest", "gradient_boosting", "linear")
NEEDS_SCALING = {"linear"}


class DataSection(Section):
    source: str = Field(
        min_length=1,
        description="'sklearn:<dataset>' for a bundled dataset, or a .csv or .parquet file",
    )
    target: str = Field(min_length=1)
    # Columns that must not become features: ids, free text, leakage (known only later).
    drop_columns: list[Annotated[str, Field(min_length=1)]] = []
    # Rows without a target value: stop the pipeline (error) or leave them out (drop).
    missing_target: Literal["error", "drop"] = "error"
    raw_path: str = Field(min_length=1)
    processed_dir: str = Field(min_length=1)
    min_rows: int = Field(50, ge=10)

    @model_validator(mode="after")
    def target_is_kept(self) -> DataSection:
        repeated = sorted({name for name in self.drop_columns if self.drop_columns.count(name) > 1})
        if repeated:
            raise ValueError(f"data.drop_columns: {repeated} listed more than once")
        if self.target in self.drop_columns:
            raise ValueError(f"data.drop_columns: {self.target!r} is the target (data.target)")
        return self


class NumericPreprocessing(Section):
    imputation: Literal["mean", "median"] = "median"
    scaling: Literal["none", "standard", "minmax"] = "none"


class CategoricalPreprocessing(Section):
    imputation: Literal["most_frequent"] = "most_frequent"
    encoding: Literal["onehot", "ordinal"] = "onehot"


class PreprocessingSection(Section):
    numeric: NumericPreprocessing = NumericPreprocessing()
    categorical: CategoricalPreprocessing = CategoricalPreprocessing()


class TrainingSection(Section):
    test_size: float = Field(gt=0.0, lt=1.0)
    random_state: int = Field(ge=0)
    cv_folds: int = Field(ge=2, le=20)


class ArtifactsSection(Section):
    model_path: str = Field(min_length=1)
    onnx_path: str = Field(min_length=1)
    serving_dir: str = Field(min_length=1)
    registration_path: str = Field(min_length=1)
    metrics_dir: str = Field(min_length=1)
    plots_dir: str = Field(min_length=1)


class MonitoringSection(Section):
    """Drift detection: the training split is the reference for batch and live checks."""

    reference_path: str = "data/processed/train.csv"
    report_dir: str = "reports/drift"
    p_value: float = Field(0.05, gt=0.0, lt=1.0)
    correction: Literal["bonferroni", "none"] = "bonferroni"
    psi_threshold: float = Field(0.1, gt=0.0)
    psi_bins: int = Field(10, ge=2, le=100)
    window_size: int = Field(500, ge=10)
    min_window: int = Field(100, ge=10)

    @model_validator(mode="after")
    def window_holds_min_window(self) -> MonitoringSection:
        if self.min_window > self.window_size:
            raise ValueError("monitoring.min_window: must not exceed monitoring.window_size")
        return self


class MlflowSection(Section):
    tracking_uri: str = Field(min_length=1)
    experiment_name: str = Field(min_length=1)
    registered_model_name: str = Field(min_length=1)

    def resolved_tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` wins, so CI and team servers need no config edit."""
        return os.environ.get("MLFLOW_TRACKING_URI") or self.tracking_uri
{%- if cookiecutter.feature_store == "feast" %}


class FeatureStoreSection(Section):
    """Feast: the repository, and the two columns that say whose features a row holds and
    when they were observed (the point-in-time join needs both)."""

    repo_path: str = Field("feature_repo", min_length=1)
    entity_key: str = Field("row_id", min_length=1)
    timestamp: str = Field("event_timestamp", min_length=1)
    # How far back a training row may reach for its features (the feature view's TTL).
    ttl_days: int = Field(365, ge=1)

    @model_validator(mode="after")
    def two_columns(self) -> FeatureStoreSection:
        if self.entity_key == self.timestamp:
            raise ValueError("feature_store.timestamp: must differ from feature_store.entity_key")
        return self

    def key_columns(self) -> list[str]:
        """The columns that identify a row for the feature store; they are not features."""
        return [self.entity_key, self.timestamp]
{%- endif %}


class ProjectConfig(Section):
    model: ModelSection
    data: DataSection
    preprocessing: PreprocessingSection = PreprocessingSection()
    training: TrainingSection
    evaluation: EvaluationSection = EvaluationSection()
    artifacts: ArtifactsSection
    monitoring: MonitoringSection = MonitoringSection()
    mlflow: MlflowSection
{%- if cookiecutter.feature_store == "feast" %}
    feature_store: FeatureStoreSection = FeatureStoreSection()
{%- endif %}

    @model_validator(mode="after")
    def scaled_for_linear_models(self) -> ProjectConfig:
        """Unscaled features slow a linear model's solver down and skew its penalty."""
        if self.model.algorithm in NEEDS_SCALING and self.preprocessing.numeric.scaling == "none":
            raise ValueError(
                f"preprocessing.numeric.scaling: model '{self.model.algorithm}' needs scaled"
                " features (standard or minmax)"
            )
        return self


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> ProjectConfig:
    """Read and validate the config file; raise ``ConfigError`` naming the bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_errors(exc.errors(), skip=ALGORITHMS)}") from None
