"""What config sections are built from: the strict base, shared value types, and the
settings an estimator has whatever the problem type.

They sit below ``config`` so that the problem type's own sections (``task_config``) can
build on them: ``config`` imports those, so they cannot import ``config``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# A class label as pandas reads it and YAML writes it; bool first, so True stays True.
Label = bool | int | str


class Section(BaseModel):
    """Base for every config section: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Gate(Section):
    """The default quality gate: beat a baseline that ignores the features (the training
    split's class shares or mean) on the primary metric.

    The improvement is a skill score, so one number suits any data: the share of the gap
    between the baseline and a perfect score that the model closes (for rmse and mae, the
    share of the baseline's error it removes). 0.1 passes a model 10% of the way there.
    """

    min_improvement: Fraction = 0.1


class ForestParams(Section):
    """The settings a random forest has for either problem type."""

    n_estimators: int = Field(100, ge=1)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt", "log2"] | None = "sqrt"


class BoostingParams(Section):
    """The settings histogram gradient boosting has for either problem type."""

    learning_rate: float = Field(0.1, gt=0.0, le=1.0)
    max_iter: int = Field(200, ge=1)
    max_leaf_nodes: int | None = Field(31, ge=2)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0.0)
    early_stopping: bool = False
