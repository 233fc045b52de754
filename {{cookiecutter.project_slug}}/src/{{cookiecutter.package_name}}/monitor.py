"""Data drift: compare current data with the training reference, feature by feature.

Each feature gets a two-sample test (Kolmogorov-Smirnov for numeric features,
chi-squared for categorical ones) and the population stability index (PSI). A feature
has drifted only when the shift is both significant (p-value below the, by default
Bonferroni-corrected, alpha) and material (PSI at least ``monitoring.psi_threshold``):
with large samples a test alone flags shifts too small to matter, and with small
samples PSI alone is noisy.

``run`` is the batch check behind the ``drift`` command; ``LiveDriftMonitor`` runs the
same check over the service's most recent requests.
"""

from __future__ import annotations

import html
import importlib
import logging
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from .config import MonitoringSection, ProjectConfig
from .errors import DataValidationError
from .reports import read_table, write_json
from .schema import DatasetSchema, to_features

log = logging.getLogger(__name__)

JSON_FILE = "drift.json"
HTML_FILE = "drift.html"
PSI_EPSILON = 1e-4  # share given to an empty bin, so PSI stays finite

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { padding: 0.3rem 0.8rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
tr.drifted { background: #fde2e1; font-weight: 600; }
"""


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    psi: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    features: list[FeatureDrift]  # in schema order
    alpha: float  # monitoring.p_value
    corrected_alpha: float  # the level each feature's p-value is compared with
    psi_threshold: float
    n_reference: int
    n_current: int

    @property
    def drifted(self) -> list[str]:
        return [feature.name for feature in self.features if feature.drifted]

    @property
    def detected(self) -> bool:
        return any(feature.drifted for feature in self.features)

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.update(drifted=self.drifted, detected=self.detected)
        return payload


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


def _chi2_test(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Chi-squared test of the 2 x k table of category counts; one category cannot differ."""
    table = np.vstack(_category_counts(reference, current))
    if table.shape[1] < 2:
        return 0.0, 1.0
    from scipy.stats import chi2_contingency  # scipy loads only when a test runs

    statistic, p_value, _, _ = chi2_contingency(table)
    return float(statistic), float(p_value)


def load_statistics() -> None:
    """Import SciPy's tests ahead of need (a second or more): the service does it while
    the model loads, so no drift computation after /ready pays for the import."""
    importlib.import_module("scipy.stats")


def _checked_features(frame: pd.DataFrame, schema: DatasetSchema, label: str) -> pd.DataFrame:
    features = to_features(frame, schema, f"{label} data")
    if features.empty:
        raise DataValidationError(f"{label} data: no rows to compare")
    return features


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    settings: MonitoringSection,
) -> DriftReport:
    """Test every schema feature of ``current`` against ``reference``."""
    from scipy.stats import ks_2samp  # scipy loads only when a test runs

    reference = _checked_features(reference, schema, "reference")
    current = _checked_features(current, schema, "current")
    alpha = settings.p_value
    corrected = alpha / len(schema.features) if settings.correction == "bonferroni" else alpha
    results = []
    test: Literal["ks", "chi2"]
    for feature in schema.features:
        ref, cur = reference[feature.name].dropna(), current[feature.name].dropna()
        if ref.empty or cur.empty:
            side = "reference" if ref.empty else "current"
            raise DataValidationError(f"{feature.name}: every {side} value is missing")
        if feature.kind == "numeric":
            test = "ks"
            ks = ks_2samp(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
            statistic, p_value = float(ks.statistic), float(ks.pvalue)
        else:
            test = "chi2"
            statistic, p_value = _chi2_test(ref, cur)
        psi = population_stability_index(ref, cur, settings.psi_bins)
        results.append(
            FeatureDrift(
                name=feature.name,
                kind=feature.kind,
                test=test,
                statistic=statistic,
                p_value=p_value,
                psi=psi,
                drifted=p_value < corrected and psi >= settings.psi_threshold,
            )
        )
    return DriftReport(
        features=results,
        alpha=alpha,
        corrected_alpha=corrected,
        psi_threshold=settings.psi_threshold,
        n_reference=len(reference),
        n_current=len(current),
    )


def _summary(report: DriftReport) -> str:
    names = report.drifted
    listed = f": {', '.join(names)}" if names else ""
    return f"Drift in {len(names)} of {len(report.features)} features{listed}"


def _render_html(report: DriftReport) -> str:
    """A self-contained page: summary, the decision rule's numbers, one row per feature."""
    rows = "\n".join(
        f'<tr class="{"drifted" if f.drifted else "stable"}">'
        f"<td>{html.escape(f.name)}</td><td>{f.kind}</td><td>{f.test}</td>"
        f"<td>{f.statistic:.4f}</td><td>{f.p_value:.3g}</td><td>{f.psi:.4f}</td>"
        f"<td>{'yes' if f.drifted else 'no'}</td></tr>"
        for f in report.features
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Drift report</title>
<style>{CSS}</style>
</head>
<body>
<h1>Drift report</h1>
<p><strong>{html.escape(_summary(report))}.</strong></p>
<p>A feature has drifted when its p-value is below the corrected alpha and its PSI is at
least the threshold. Alpha {report.alpha:g}, corrected alpha {report.corrected_alpha:.3g},
PSI threshold {report.psi_threshold:g}.</p>
<p>Reference: {report.n_reference} rows. Current: {report.n_current} rows.</p>
<table>
<thead><tr><th>Feature</th><th>Kind</th><th>Test</th><th>Statistic</th><th>p-value</th>
<th>PSI</th><th>Drifted</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def write_reports(report: DriftReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``drift.json`` for machines and ``drift.html`` for people."""
    json_path = write_json(out_dir / JSON_FILE, report.to_dict())
    html_path = out_dir / HTML_FILE
    html_path.write_text(_render_html(report), encoding="utf-8")
    return json_path, html_path


def run(config: ProjectConfig, current_path: Path) -> DriftReport:
    """Step ``drift``: compare a table (CSV or Parquet) with the reference, write reports.

    Drift is a finding, not an error: this returns the report and the caller decides
    what a detected drift means (the CLI exits with a distinct code).
    """
    from .data import load_schema  # the batch check only: keeps sklearn out of the service

    schema = load_schema(config)
    settings = config.monitoring
    reference = read_table(Path(settings.reference_path), "monitoring.reference_path")
    current = read_table(Path(current_path), "current data")
    report = detect_drift(reference, current, schema, settings)
    out_dir = Path(settings.report_dir)
    write_reports(report, out_dir)
    log.info(
        "%s (%d current vs %d reference rows); reports in %s",
        _summary(report), report.n_current, report.n_reference, out_dir,
    )
    return report


@dataclass(frozen=True)
class DriftBaseline:
    """What a live window is tested against: the reference rows, the schema, the rule.

    Picklable, so the service sends it once to the process that computes its drift.
    """

    reference: pd.DataFrame
    schema: DatasetSchema
    settings: MonitoringSection

    def report(self, rows: Sequence[tuple[Any, ...]]) -> DriftReport | None:
        """Drift of ``rows`` (value tuples in schema order); None, with a warning, when
        they cannot be tested (a feature missing in every row): a metrics scrape should
        not fail over it."""
        window = pd.DataFrame.from_records(rows, columns=self.schema.names())
        try:
            return detect_drift(self.reference, window, self.schema, self.settings)
        except DataValidationError as exc:
            log.warning("live drift not computed: %s", exc)
            return None


@dataclass(frozen=True)
class Window:
    """The live window at one moment: how many rows were observed by then, and the
    (at most ``window_size``) most recent ones."""

    observed: int
    rows: list[tuple[Any, ...]]


class LiveDriftMonitor:
    """Drift of the service's last ``window_size`` requests against the reference.

    ``observe`` runs in request handlers, so it only appends plain tuples to a bounded
    deque under a lock. ``report`` builds the DataFrame and runs the tests: CPU work that
    the service's drift worker hands to a process of its own (``baseline`` and
    ``window()`` are what it sends), never work for the event loop.
    """

    def __init__(
        self, reference: pd.DataFrame, schema: DatasetSchema, settings: MonitoringSection
    ) -> None:
        self.baseline = DriftBaseline(
            _checked_features(reference, schema, "reference"), schema, settings
        )
        self._names = schema.names()
        self._min_window = settings.min_window
        self._window: deque[tuple[Any, ...]] = deque(maxlen=settings.window_size)
        self._lock = threading.Lock()
        self._seen = 0  # rows observed so far; also tells whether the cache is stale
        self._cached: DriftReport | None = None
        self._cached_at = -1

    def observe(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        """Add rows to the window: a DataFrame, or records (dicts keyed by feature name).

        Records, such as a request's parsed body, skip building a DataFrame per request.
        """
        try:
            if isinstance(rows, pd.DataFrame):
                values = list(zip(*(rows[name].tolist() for name in self._names)))
            else:
                values = [tuple(record[name] for name in self._names) for record in rows]
        except KeyError as exc:
            raise DataValidationError(
                f"observed rows: missing feature column {exc.args[0]!r}"
            ) from None
        with self._lock:
            self._window.extend(values)
            self._seen += len(values)

    @property
    def observed(self) -> int:
        """Rows observed so far (not only those still in the window)."""
        with self._lock:
            return self._seen

    def window(self) -> Window | None:
        """A copy of the window; None until ``min_window`` rows were observed."""
        with self._lock:
            if self._seen < self._min_window:
                return None
            return Window(self._seen, list(self._window))

    def report(self) -> DriftReport | None:
        """Drift of the current window, computed here; None as for ``window()`` and
        ``DriftBaseline.report``. Cached until new rows arrive."""
        with self._lock:
            if self._cached_at == self._seen:
                return self._cached
        window = self.window()
        if window is None:
            return None
        # Tested outside the lock: observe() in a request handler never waits for it.
        report = self.baseline.report(window.rows)
        with self._lock:
            if window.observed > self._cached_at:
                self._cached, self._cached_at = report, window.observed
        return report
