"""The training data's schema, written by ``prepare`` and read by every later step.

Deriving it from the data once (rather than typing feature lists by hand) keeps the
preprocessing, the model signature and any serving code in step with the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .errors import DataValidationError

SCHEMA_FILE = "schema.json"
# Missing categories become this string: string imputers (and their ONNX twins) need one.
MISSING_CATEGORY = "__missing__"


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["numeric", "categorical"]
    categories: list[str] = Field(default_factory=list)


class DatasetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
{%- if cookiecutter.problem_type == "classification" %}
    classes: list[int | str]
{%- endif %}
    features: list[Feature]

    def names(self, kind: str | None = None) -> list[str]:
        """Feature names in column order, optionally only those of one kind."""
        return [f.name for f in self.features if kind is None or f.kind == kind]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> DatasetSchema:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def to_features(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Select the schema's feature columns; categories become strings, missing ones a marker."""
    missing = [name for name in schema.names() if name not in frame.columns]
    if missing:
        raise DataValidationError(f"columns: missing feature columns {missing}")
    features = frame[schema.names()].copy()
    for name in schema.names("categorical"):
        column = features[name]
        features[name] = column.astype(str).where(column.notna(), MISSING_CATEGORY).astype(object)
    return features
