"""Data drift: compare current data with the training reference, feature by feature.

Each feature gets a two-sample test (Kolmogorov-Smirnov for numeric features,
chi-squared for categorical ones) and the population stability index (PSI), both from
``drift_stats``. A feature has drifted only when the shift is both significant (p-value
below the, by default Bonferroni-corrected, alpha) and material (PSI at least
``monitoring.psi_threshold``): with large samples a test alone flags shifts too small to
matter, and with small samples PSI alone is noisy.

``run`` is the batch check behind the ``drift`` command; ``DriftBaseline`` applies the
same rule to the rows of the service's live window (``live_drift``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .config import MonitoringSection, ProjectConfig
from .drift_report import write_reports
from .drift_stats import chi2_test, ks_test, population_stability_index
from .errors import DataValidationError
from .reports import read_table
from .schema import DatasetSchema, Feature, to_features

log = logging.getLogger(__name__)


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

    @property
    def summary(self) -> str:
        """One line for the log and the HTML page: how many features drifted, and which."""
        names = self.drifted
        listed = f": {', '.join(names)}" if names else ""
        return f"Drift in {len(names)} of {len(self.features)} features{listed}"

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.update(drifted=self.drifted, detected=self.detected)
        return payload


def checked_features(frame: pd.DataFrame, schema: DatasetSchema, label: str) -> pd.DataFrame:
    """The schema's features of ``frame`` as training saw them; an empty table is an error
    (``label`` names the side), since no test can compare it."""
    features = to_features(frame, schema, f"{label} data")
    if features.empty:
        raise DataValidationError(f"{label} data: no rows to compare")
    return features


def _feature_drift(
    feature: Feature, ref: pd.Series, cur: pd.Series, corrected: float, settings: MonitoringSection
) -> FeatureDrift:
    """One feature's test, PSI and verdict; missing values are left out of both."""
    ref, cur = ref.dropna(), cur.dropna()
    if ref.empty or cur.empty:
        side = "reference" if ref.empty else "current"
        raise DataValidationError(f"{feature.name}: every {side} value is missing")
    test: Literal["ks", "chi2"] = "ks" if feature.kind == "numeric" else "chi2"
    statistic, p_value = (ks_test if test == "ks" else chi2_test)(ref, cur)
    psi = population_stability_index(ref, cur, settings.psi_bins)
    return FeatureDrift(
        name=feature.name,
        kind=feature.kind,
        test=test,
        statistic=statistic,
        p_value=p_value,
        psi=psi,
        drifted=p_value < corrected and psi >= settings.psi_threshold,
    )


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    settings: MonitoringSection,
) -> DriftReport:
    """Test every schema feature of ``current`` against ``reference``."""
    reference = checked_features(reference, schema, "reference")
    current = checked_features(current, schema, "current")
    alpha = settings.p_value
    corrected = alpha / len(schema.features) if settings.correction == "bonferroni" else alpha
    results = [
        _feature_drift(feature, reference[feature.name], current[feature.name], corrected, settings)
        for feature in schema.features
    ]
    return DriftReport(
        features=results,
        alpha=alpha,
        corrected_alpha=corrected,
        psi_threshold=settings.psi_threshold,
        n_reference=len(reference),
        n_current=len(current),
    )


@dataclass(frozen=True)
class DriftBaseline:
    """What rows are tested against: the reference rows, the schema, the rule.

    Picklable, so the service sends it once to the process that computes its live drift.
    """

    reference: pd.DataFrame
    schema: DatasetSchema
    settings: MonitoringSection

    @classmethod
    def checked(
        cls, reference: pd.DataFrame, schema: DatasetSchema, settings: MonitoringSection
    ) -> DriftBaseline:
        """A baseline whose reference is checked once, not again for every window."""
        return cls(checked_features(reference, schema, "reference"), schema, settings)

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
        report.summary, report.n_current, report.n_reference, out_dir,
    )
    return report
