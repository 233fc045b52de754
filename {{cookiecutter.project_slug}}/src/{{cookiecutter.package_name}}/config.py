"""Load and validate ``config/model_config.yaml``, the project's single source of truth.

This is the only module that reads the YAML. Everything else receives a validated
``ProjectConfig``, so a typo or a wrong type fails here, once, with the key named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
{%- if cookiecutter.problem_type == "classification" %}
    field_validator,
{%- endif %}
    model_validator,
)

from .errors import ConfigError, describe_errors

DEFAULT_CONFIG_PATH = Path("config/model_config.yaml")
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# A class label as pandas reads it and YAML writes it; bool first, so True stays True.
Label = bool | int | str
{%- if cookiecutter.problem_type == "classification" %}

ClassificationMetric = Literal[
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision"
]
{%- else %}

RegressionMetric = Literal["rmse", "mae", "r2"]
{%- endif %}
# Error metrics: lower is better, so their thresholds are maxima; every other one is a score.
LOWER_IS_BETTER = frozenset({"rmse", "mae"})


class Section(BaseModel):
    """Base for every config section: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RandomForestParams(Section):
    """scikit-learn's RandomForest{{ "Classifier" if cookiecutter.problem_type == "classification" else "Regressor" }}."""

    n_estimators: int = Field(100, ge=1)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt", "log2"] | None = "sqrt"
{%- if cookiecutter.problem_type == "classification" %}
    class_weight: Literal["balanced", "balanced_subsample"] | None = None
{%- endif %}


class GradientBoostingParams(Section):
    """scikit-learn's HistGradientBoosting{{ "Classifier" if cookiecutter.problem_type == "classification" else "Regressor" }}: fast on tabular data of any size."""

    learning_rate: float = Field(0.1, gt=0.0, le=1.0)
    max_iter: int = Field(200, ge=1)
    max_leaf_nodes: int | None = Field(31, ge=2)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0.0)
    early_stopping: bool = False
{%- if cookiecutter.problem_type == "classification" %}
    class_weight: Literal["balanced"] | None = None


class LinearParams(Section):
    """scikit-learn's LogisticRegression; it needs scaled numeric features."""

    C: float = Field(1.0, gt=0.0)
    max_iter: int = Field(1000, ge=1)
    class_weight: Literal["balanced"] | None = None
{%- else %}


class LinearParams(Section):
    """scikit-learn's Ridge (least squares with an L2 penalty); it needs scaled numeric features."""

    alpha: float = Field(1.0, gt=0.0)
{%- endif %}


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


class Gate(Section):
    """The default quality gate: beat a baseline that ignores the features (the training
    split's class shares or mean) on the primary metric.

    The improvement is a skill score, so one number suits any data: the share of the gap
    between the baseline and a perfect score that the model closes (for rmse and mae, the
    share of the baseline's error it removes). 0.1 passes a model 10% of the way there.
    """

    min_improvement: Fraction = 0.1
{%- if cookiecutter.problem_type == "classification" %}


class Thresholds(Section):
    """Optional minimum held-out scores; a metric left out is not gated."""

    accuracy: Fraction | None = None
    balanced_accuracy: Fraction | None = None
    precision: Fraction | None = None
    recall: Fraction | None = None
    f1: Fraction | None = None
    roc_auc: Fraction | None = None
    average_precision: Fraction | None = None


class EvaluationSection(Gate):
    primary_metric: ClassificationMetric = "roc_auc"
    # Binary classification: the class precision, recall, F1 and average precision are
    # about. None: the training split's minority class (prepare records the choice).
    positive_class: Label | None = None
    thresholds: Thresholds = Thresholds()

    @field_validator("positive_class", mode="plain")
    @classmethod
    def is_a_label(cls, value: object) -> Label | None:
        """One message for a wrong type, not one per type a label may have."""
        if value is None or isinstance(value, (bool, int, str)):
            return value
        raise ValueError("must be a class label: a string, an integer or a boolean")
{%- else %}


class Thresholds(Section):
    """Optional held-out quality bar: the largest errors (rmse, mae, in the target's unit)
    and the smallest r2 allowed; a metric left out is not gated."""

    rmse: float | None = Field(None, gt=0.0)
    mae: float | None = Field(None, gt=0.0)
    r2: float | None = Field(None, le=1.0)


class EvaluationSection(Gate):
    primary_metric: RegressionMetric = "rmse"
    thresholds: Thresholds = Thresholds()
{%- endif %}


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


class ProjectConfig(Section):
    model: ModelSection
    data: DataSection
    preprocessing: PreprocessingSection = PreprocessingSection()
    training: TrainingSection
    evaluation: EvaluationSection = EvaluationSection()
    artifacts: ArtifactsSection
    monitoring: MonitoringSection = MonitoringSection()
    mlflow: MlflowSection

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
