"""Preprocessing built from ``preprocessing`` in the config and the data schema.

Returned unfitted, so it is fitted inside the model pipeline: cross-validation then
never leaks statistics from the validation folds into the imputers and scalers.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from .config import CategoricalPreprocessing, NumericPreprocessing, PreprocessingSection
from .schema import MISSING_CATEGORY, DatasetSchema

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}


def numeric_steps(settings: NumericPreprocessing) -> Pipeline:
    """Impute, then scale unless ``scaling: none`` (tree models need no scaling)."""
    steps: list[tuple[str, object]] = [("impute", SimpleImputer(strategy=settings.imputation))]
    if settings.scaling != "none":
        steps.append(("scale", SCALERS[settings.scaling]()))
    return Pipeline(steps)


def categorical_steps(settings: CategoricalPreprocessing) -> Pipeline:
    """Impute, then encode; categories unseen in training are tolerated, not fatal."""
    if settings.encoding == "onehot":
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    imputer = SimpleImputer(missing_values=MISSING_CATEGORY, strategy=settings.imputation)
    return Pipeline([("impute", imputer), ("encode", encoder)])


def build_preprocessor(settings: PreprocessingSection, schema: DatasetSchema) -> ColumnTransformer:
    """One branch per feature kind present in the data; other columns are dropped."""
    branches = []
    numeric = schema.names("numeric")
    categorical = schema.names("categorical")
    if numeric:
        branches.append(("numeric", numeric_steps(settings.numeric), numeric))
    if categorical:
        branches.append(("categorical", categorical_steps(settings.categorical), categorical))
    return ColumnTransformer(branches, remainder="drop", verbose_feature_names_out=False)
