"""Preprocessing follows the config and survives values unseen in training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import PreprocessingSection
from {{ cookiecutter.package_name }}.features import build_preprocessor
from {{ cookiecutter.package_name }}.schema import MISSING_CATEGORY, DatasetSchema, Feature

MIXED = DatasetSchema(
    target="label",
    features=[
        Feature(name="age", kind="numeric", dtype="float"),
        Feature(name="city", kind="categorical", dtype="string", categories=["oslo", "rome"]),
    ],
)
TRAIN = pd.DataFrame(
    {"age": [20.0, 30.0, np.nan, 50.0], "city": ["oslo", "rome", "oslo", MISSING_CATEGORY]}
)


def settings(**numeric: str) -> PreprocessingSection:
    return PreprocessingSection.model_validate({"numeric": numeric} if numeric else {})


def test_default_config_encodes_every_feature(config, schema, training) -> None:
    """One column per numeric feature, one per category (one-hot) or per feature (ordinal)."""
    features, _ = training
    transformed = build_preprocessor(config.preprocessing, schema).fit_transform(features)
    onehot = config.preprocessing.categorical.encoding == "onehot"
    width = sum(
        len(f.categories) if f.kind == "categorical" and onehot else 1
        for f in schema.features
    )
    assert transformed.shape == (len(features), width)
    assert np.isfinite(transformed).all()  # gaps imputed


def test_standard_scaling_centres_numeric_columns() -> None:
    transformed = build_preprocessor(settings(scaling="standard"), MIXED).fit_transform(TRAIN)
    assert transformed[:, 0].mean() == pytest.approx(0.0, abs=1e-9)
    assert transformed[:, 0].std() == pytest.approx(1.0)


def test_no_scaling_only_imputes() -> None:
    transformed = build_preprocessor(settings(scaling="none"), MIXED).fit_transform(TRAIN)
    assert transformed[:, 0].tolist() == [20.0, 30.0, 30.0, 50.0]


@pytest.mark.parametrize(("encoding", "width"), [("onehot", 2), ("ordinal", 1)])
def test_unseen_category_is_tolerated(encoding: str, width: int) -> None:
    section = PreprocessingSection.model_validate({"categorical": {"encoding": encoding}})
    preprocessor = build_preprocessor(section, MIXED).fit(TRAIN)
    unseen = preprocessor.transform(pd.DataFrame({"age": [40.0], "city": ["paris"]}))
    assert unseen.shape == (1, 1 + width)
    expected = [0.0, 0.0] if encoding == "onehot" else [-1.0]
    assert unseen[0, 1:].tolist() == expected
