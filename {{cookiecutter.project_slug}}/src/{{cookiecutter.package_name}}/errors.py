"""Errors a user can fix: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class for problems with the user's config, data or model quality."""


class ConfigError(PipelineError):
    """The config file is missing, unreadable, or breaks a rule; the message names the key."""


class DataValidationError(PipelineError):
    """The dataset does not match what the pipeline needs; the message names the column."""


class ThresholdError(PipelineError):
    """The model fails the quality gate in ``evaluation``: it does not beat the baseline by
    ``min_improvement``, or misses one of the optional ``thresholds``."""


def require_file(path: Path, what: str, step: str) -> Path:
    """``path``, or a one-line error naming it (``what``: the config key) and the step that
    writes it, for a step run before the steps it builds on."""
    if not path.exists():
        raise PipelineError(f"{what}: {str(path)!r} not found; run the {step} step first")
    return path
