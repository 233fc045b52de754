"""Errors a user can fix: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

# "monitoring.min_window: must not exceed ...": a rule's message that starts with its key.
NAMES_ITS_KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+: ")


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


def describe_errors(
    errors: Iterable[Mapping[str, Any]], skip: Collection[Any] = (), root: str | None = None
) -> str:
    """pydantic's errors as one line: ``<dotted.key>: <message>`` each, joined by "; ".

    ``skip`` drops location parts the user's input has no level for (a request's "body",
    the model tag pydantic adds to a tagged union); an error left without a location is
    about the whole input, named ``root`` if given. A message that starts with its own
    key (a rule over several keys) is kept as it is.
    """
    problems = []
    for error in errors:
        parts = [str(part) for part in error["loc"] if part not in skip]
        message = str(error["msg"]).removeprefix("Value error, ")
        where = ".".join(parts) or root
        if where and not NAMES_ITS_KEY.match(message):
            problems.append(f"{where}: {message}")
        else:
            problems.append(message)
    return "; ".join(problems)
