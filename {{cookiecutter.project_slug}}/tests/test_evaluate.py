"""The evaluate step writes DVC metrics and plots beside a baseline's, then gates.

What the metrics, plots and thresholds are depends on the problem type: test_task.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from {{ cookiecutter.package_name }} import evaluate
from {{ cookiecutter.package_name }}.config import ProjectConfig
from {{ cookiecutter.package_name }}.errors import ThresholdError
from {{ cookiecutter.package_name }}.task_config import Metric

from shared_fixtures import override


def written_metrics(project: Path) -> dict[str, float]:
    path = project / "metrics" / evaluate.METRICS_FILE
    written: dict[str, float] = json.loads(path.read_text())
    return written


def test_run_writes_metrics_beside_the_baselines(
    evaluated_project: Path, config: ProjectConfig
) -> None:
    metrics = evaluate.run(config)
    written = written_metrics(evaluated_project)
    baseline = {
        name.removeprefix(evaluate.BASELINE_PREFIX): value
        for name, value in written.items()
        if name.startswith(evaluate.BASELINE_PREFIX)
    }
    assert set(metrics) == set(baseline) == set(get_args(Metric))  # every metric gates
    assert {name: written[name] for name in metrics} == pytest.approx(metrics)
    metric = config.evaluation.primary_metric
    expected = evaluate.improvement(metric, metrics[metric], baseline[metric])
    assert written["improvement"] == pytest.approx(expected)
    assert written["improvement"] >= config.evaluation.min_improvement


def test_gate_fails_after_writing_metrics(evaluated_project: Path, config: ProjectConfig) -> None:
    unreachable = override(config, evaluation={"min_improvement": 1.0})
    refused = r"evaluation\.min_improvement: \w+ -?\d+\.\d+ against the baseline's"
    with pytest.raises(ThresholdError, match=refused):
        evaluate.run(unreachable)
    assert (evaluated_project / "metrics" / evaluate.METRICS_FILE).is_file()
