"""Errors a user can fix: the CLI prints them as one line and exits non-zero."""


class PipelineError(Exception):
    """Base class for problems with the user's config, data or model quality."""


class ConfigError(PipelineError):
    """The config file is missing, unreadable, or breaks a rule; the message names the key."""


class DataValidationError(PipelineError):
    """The dataset does not match what the pipeline needs; the message names the column."""


class ThresholdError(PipelineError):
{%- if cookiecutter.problem_type == "classification" %}
    """A held-out metric is below the minimum set in ``evaluation.thresholds``."""
{%- else %}
    """A held-out error is above, or r2 below, its limit in ``evaluation.thresholds``."""
{%- endif %}
