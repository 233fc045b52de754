"""Step ``evaluate``: held-out metrics beside a baseline's, plot data for DVC, the gate.

The baseline ignores the features (``task.fit_baseline``: the training split's class
shares, or its mean), so the default gate, "beat it by ``evaluation.min_improvement``",
fits any dataset without tuning. Metrics and plots are written before the gate runs, so
a failed gate still leaves the numbers behind to look at.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import task
from .config import ProjectConfig
from .data import load_schema, load_split
from .errors import ThresholdError
from .model_io import load_model
from .reports import write_json
from .task_config import LOWER_IS_BETTER, EvaluationSection, Thresholds

log = logging.getLogger(__name__)

METRICS_FILE = "evaluate.json"
BASELINE_PREFIX = "baseline_"


def improvement(metric: str, score: float, baseline: float) -> float:
    """Skill score: the share of the way from the baseline to a perfect score (0 for an
    error, 1 otherwise) that ``score`` goes. 0 matches the baseline, 1 is perfect, a
    negative value is worse than the baseline."""
    perfect = 0.0 if metric in LOWER_IS_BETTER else 1.0
    gap = perfect - baseline
    return 0.0 if gap == 0 else (score - baseline) / gap


def threshold_failures(metrics: dict[str, float], thresholds: Thresholds) -> list[str]:
    """Every metric on the wrong side of its optional threshold: errors (rmse, mae) above
    their maximum, scores below their minimum."""
    failures = []
    for name, limit in thresholds.model_dump().items():
        if limit is None:
            continue
        if name in LOWER_IS_BETTER and metrics[name] > limit:
            failures.append(
                f"evaluation.thresholds.{name}: {metrics[name]:.4f} is above the maximum {limit}"
            )
        elif name not in LOWER_IS_BETTER and metrics[name] < limit:
            failures.append(
                f"evaluation.thresholds.{name}: {metrics[name]:.4f} is below the minimum {limit}"
            )
    return failures


def check_gate(
    metrics: dict[str, float], baseline: dict[str, float], evaluation: EvaluationSection
) -> None:
    """Raise ``ThresholdError`` naming each failed rule: the improvement over the baseline
    on the primary metric, then every optional threshold."""
    failures = []
    metric = evaluation.primary_metric
    gained = improvement(metric, metrics[metric], baseline[metric])
    if gained < evaluation.min_improvement:
        failures.append(
            f"evaluation.min_improvement: {metric} {metrics[metric]:.4f} against the "
            f"baseline's {baseline[metric]:.4f} improves by {gained:.4f}, "
            f"below {evaluation.min_improvement}"
        )
    failures += threshold_failures(metrics, evaluation.thresholds)
    if failures:
        raise ThresholdError("; ".join(failures))


def run(config: ProjectConfig) -> dict[str, float]:
    """Step ``evaluate``: write the model's and the baseline's held-out metrics and the
    plots, then gate."""
    schema = load_schema(config)
    model = load_model(Path(config.artifacts.model_path))
    features, target = load_split(config, "test")
    metrics = task.compute_metrics(model, features, target, schema)
    baseline_model = task.fit_baseline(*load_split(config, "train"))
    baseline = task.compute_metrics(baseline_model, features, target, schema)
    metric = config.evaluation.primary_metric
    written = {
        **metrics,
        **{f"{BASELINE_PREFIX}{name}": value for name, value in baseline.items()},
        "improvement": improvement(metric, metrics[metric], baseline[metric]),
    }
    write_json(Path(config.artifacts.metrics_dir) / METRICS_FILE, written)
    task.write_plots(Path(config.artifacts.plots_dir), model, features, target, schema)
    log.info(
        "held-out metrics: %s (baseline %s %.4f)",
        ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), metric, baseline[metric],
    )
    check_gate(metrics, baseline, config.evaluation)
    return metrics
