"""Request and response models shared by every problem type.

The request models are built from the bundle's ``schema.json``, so they always match the
features the model was trained on: each feature keeps its type (integer, float, boolean or
string), and ``null`` is a missing value, imputed exactly as in training.
"""

import sys
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from ..schema import DatasetSchema

# The model computes with floats: a larger integer could not reach it as a number.
LARGEST_INTEGER = int(sys.float_info.max)


def whole_number(value: Any) -> Any:
    """3.0 is the integer 3 in JSON (and in the OpenAPI schema's JSON Schema); 2.5, NaN
    and infinities stay floats, which the strict integer check then refuses."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def float_sized(value: int) -> int:
    """Refuse integers no float holds. Not a bound in the OpenAPI schema: fuzzers such
    as schemathesis ignore bounds of nullable fields, and no real value is this large."""
    if abs(value) > LARGEST_INTEGER:
        raise ValueError(f"integers must be at most {sys.float_info.max:.4g} in size")
    return value


Integer = Annotated[int, BeforeValidator(whole_number), AfterValidator(float_sized)]
# The JSON value each feature accepts, by its type in training; null is a missing value.
VALUE_TYPES: dict[str, Any] = {
    "float": float | None,
    "integer": Integer | None,
    "boolean": bool | None,
    "string": str | None,
}


class Strict(BaseModel):
    """No coercion ("1" is no number, true no float), no NaN or Infinity, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ModelRef(BaseModel):
    name: str
    version: str


class Answer(BaseModel):
    """The fields of every /predict answer; the task's response model adds the predictions."""

    request_id: str
    model: ModelRef
    warnings: list[str] = Field(
        description="one line per category the model never saw in training, e.g. "
        "records.0.<feature>: category 'x' was not seen in training"
    )


class FeedbackBody(Strict):
    request_id: str = Field(min_length=1)


class Status(BaseModel):
    status: Literal["ok", "ready", "loading", "failed"]
    detail: str | None = None


class FeatureInfo(BaseModel):
    name: str
    kind: str
    dtype: str
    categories: list[str]


class ModelMetadata(BaseModel):
    name: str
    version: str
    alias: str
    runtime: str | None
    metrics: dict[str, float]
    features: list[FeatureInfo]


class Problem(BaseModel):
    detail: str


CLIENT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Malformed JSON"},
    422: {"model": Problem, "description": "A field is missing, unknown or invalid"},
}


def record_model(schema: DatasetSchema) -> type[BaseModel]:
    """One request record: every feature's key required, its value typed as in training
    or null, nothing else. Fields get positional names: a feature's name need not be a
    Python identifier, so it is the field's alias."""
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        fields[f"f{position}"] = (VALUE_TYPES[feature.dtype], Field(alias=feature.name))
    return create_model("Record", __base__=Strict, **fields)


class LookupFailed(Exception):
    """A request whose records cannot be produced although its body is valid: the status,
    the one-line detail and the reason the error counter gets. The record source of
    ``records.py`` raises it; /predict answers with it."""

    def __init__(self, status: int, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.reason = status, detail, reason
