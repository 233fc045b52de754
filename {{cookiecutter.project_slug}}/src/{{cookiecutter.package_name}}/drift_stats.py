"""The statistics behind the drift rule: two-sample tests and the population stability index.

Each function compares one feature's reference values with its current values; the
rule that combines them into a verdict is ``monitor.detect_drift``'s. SciPy is imported
where a test runs, so importing this module (the service does) costs nothing until then;
``load_statistics`` pays that cost ahead of need.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

PSI_EPSILON = 1e-4  # share given to an empty bin, so PSI stays finite


def load_statistics() -> None:
    """Import SciPy's tests ahead of need (a second or more): the service does it while
    the model loads, so no drift computation after /ready pays for the import."""
    importlib.import_module("scipy.stats")


def _category_counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each value over the union of both sides' values, in the same order."""
    counts = pd.concat(
        [reference.value_counts(), current.value_counts()], axis=1, keys=["ref", "cur"]
    ).fillna(0)
    return counts["ref"].to_numpy(dtype=float), counts["cur"].to_numpy(dtype=float)


def _quantile_counts(
    reference: pd.Series, current: pd.Series, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts in the reference's quantile bins; the outer bins are open-ended.

    Ties merge into one bin (the edges are deduplicated); a value equal to an edge goes
    to the lower bin, which keeps a point mass at the minimum (zeros, say) on its own.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))

    def counts(values: pd.Series) -> np.ndarray:
        index = np.searchsorted(edges, values.to_numpy(dtype=float), side="left")
        return np.bincount(index, minlength=len(edges) + 1).astype(float)

    return counts(reference), counts(current)


def population_stability_index(reference: Any, current: Any, bins: int) -> float:
    """PSI = sum((cur - ref) * ln(cur / ref)) over bin shares; 0.0 for identical data.

    Numeric values fall in ``bins`` quantile bins of the reference. Categories, and numeric
    features with at most ``bins`` distinct reference values (flags, small counts), are
    compared value by value over the union of both sides' values, so a value the
    reference never had counts as a shift. Missing values are ignored.
    """
    reference, current = pd.Series(reference).dropna(), pd.Series(current).dropna()
    if reference.empty or current.empty:
        raise ValueError("PSI needs at least one non-missing value on each side")
    if is_numeric_dtype(reference) and reference.nunique() > bins:
        expected, actual = _quantile_counts(reference, current, bins)
    else:
        expected, actual = _category_counts(reference, current)
    expected = np.clip(expected / expected.sum(), PSI_EPSILON, None)
    actual = np.clip(actual / actual.sum(), PSI_EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks_test(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic and p-value of two numeric samples."""
    from scipy.stats import ks_2samp

    result = ks_2samp(reference.to_numpy(dtype=float), current.to_numpy(dtype=float))
    return float(result.statistic), float(result.pvalue)


def chi2_test(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Chi-squared test of the 2 x k table of category counts; one category cannot differ."""
    table = np.vstack(_category_counts(reference, current))
    if table.shape[1] < 2:
        return 0.0, 1.0
    from scipy.stats import chi2_contingency

    statistic, p_value, _, _ = chi2_contingency(table)
    return float(statistic), float(p_value)
