"""The training data's schema, written by ``prepare`` and read by every later step.

Deriving it from the data once (rather than typing feature lists by hand) keeps the
preprocessing, the model signature and any serving code in step with the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .sections import Label
from .errors import DataValidationError

SCHEMA_FILE = "schema.json"
# Missing categories become this string: string imputers (and their ONNX twins) need one.
MISSING_CATEGORY = "__missing__"
# How a column was typed in the data, so requests keep those types: "integer" and "float"
# columns are numeric features, "boolean" and "string" ones categorical.
Dtype = Literal["float", "integer", "boolean", "string"]
DEFAULT_DTYPE: dict[str, Dtype] = {"numeric": "float", "categorical": "string"}


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: Dtype
    categories: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def dtype_from_kind(cls, data: Any) -> Any:
        """Schemas written before ``dtype`` existed (an older champion's) still load."""
        if isinstance(data, dict) and "dtype" not in data and "kind" in data:
            return {**data, "dtype": DEFAULT_DTYPE.get(data["kind"], "string")}
        return data


class DatasetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    # Classification only: every class, and the one binary metrics are computed for.
    classes: list[Label] | None = None
    positive_class: Label | None = None
    features: list[Feature]

    def names(self, kind: str | None = None) -> list[str]:
        """Feature names in column order, optionally only those of one kind."""
        return [f.name for f in self.features if kind is None or f.kind == kind]

    def differences(self, other: DatasetSchema) -> list[str]:
        """What makes a model trained on ``other`` unfit for this data: target, classes or
        features (names, kinds, types). Category lists and the positive class may differ."""
        found = []
        if self.target != other.target:
            found.append(f"target {other.target!r} -> {self.target!r}")
        if self.classes != other.classes:
            found.append(f"classes {other.classes} -> {self.classes}")
        ours = [(f.name, f.kind, f.dtype) for f in self.features]
        theirs = [(f.name, f.kind, f.dtype) for f in other.features]
        if ours != theirs:
            added = [name for name, *_ in ours if name not in other.names()]
            removed = [name for name, *_ in theirs if name not in self.names()]
            detail = f"added {added}, removed {removed}" if added or removed else "types changed"
            found.append(f"features: {detail}")
        return found

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Without the empty classification fields: a regression schema has no classes.
        text = self.model_dump_json(indent=2, exclude_none=True)
        path.write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> DatasetSchema:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def missing_columns(frame: pd.DataFrame, schema: DatasetSchema, what: str) -> None:
    """Raise one ``DataValidationError`` naming every feature column ``frame`` lacks."""
    missing = [name for name in schema.names() if name not in frame.columns]
    if missing:
        raise DataValidationError(f"{what}: missing feature columns {missing}")


def to_features(frame: pd.DataFrame, schema: DatasetSchema, what: str = "data") -> pd.DataFrame:
    """The schema's feature columns as the model takes them: numbers as floats (missing ones
    NaN), categories as strings (missing ones a marker, booleans ``"True"``/``"False"``)."""
    missing_columns(frame, schema, what)
    features = frame[schema.names()].copy()
    for name in schema.names("numeric"):
        try:
            features[name] = pd.to_numeric(features[name]).astype(float)
        except (TypeError, ValueError):
            raise DataValidationError(f"{what}: column {name!r} must hold numbers") from None
    for name in schema.names("categorical"):
        column = features[name]
        features[name] = column.astype(str).where(column.notna(), MISSING_CATEGORY).astype(object)
    return features
