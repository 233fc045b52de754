"""The service's live drift window: its most recent requests, kept for the drift check.

Only the keeping is done here. Testing a window (``DriftBaseline.report``) is CPU work
that the service's drift worker hands to a process of its own, never work for the event
loop or a request handler.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pandas as pd

from .config import MonitoringSection
from .errors import DataValidationError
from .monitor import DriftBaseline
from .schema import DatasetSchema


def row_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A record's values in ``names`` order, as a tuple. ``itemgetter`` is about four times
    faster than a generator over the names (it runs per request), but gives one name's
    value bare."""
    getter = itemgetter(*names)
    if len(names) == 1:
        return lambda record: (getter(record),)
    return getter


@dataclass(frozen=True)
class Window:
    """The live window at one moment: how many rows were observed by then, and the
    (at most ``window_size``) most recent ones."""

    observed: int
    rows: list[tuple[Any, ...]]


class LiveDriftMonitor:
    """The service's last ``window_size`` requests, and the baseline to test them against.

    ``observe`` runs in request handlers, so it only appends plain tuples to a bounded
    deque under a lock. The drift worker sends ``baseline`` to its process once, then a
    copy of ``window()`` whenever rows arrived, and tests it there with
    ``baseline.report(window.rows)``.
    """

    def __init__(
        self, reference: pd.DataFrame, schema: DatasetSchema, settings: MonitoringSection
    ) -> None:
        self.baseline = DriftBaseline.checked(reference, schema, settings)
        self._names = schema.names()
        self._row = row_getter(self._names)
        self._min_window = settings.min_window
        self._window: deque[tuple[Any, ...]] = deque(maxlen=settings.window_size)
        self._lock = threading.Lock()
        self._seen = 0  # rows observed so far, including those the window dropped

    def observe(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        """Add rows to the window: a DataFrame, or records (dicts keyed by feature name).

        Records, such as a request's parsed body, skip building a DataFrame per request.
        """
        try:
            if isinstance(rows, pd.DataFrame):
                values = list(zip(*(rows[name].tolist() for name in self._names)))
            else:
                values = [self._row(record) for record in rows]
        except KeyError as exc:
            raise DataValidationError(
                f"observed rows: missing feature column {exc.args[0]!r}"
            ) from None
        with self._lock:
            self._window.extend(values)
            self._seen += len(values)

    def window(self) -> Window | None:
        """A copy of the window; None until ``min_window`` rows were observed."""
        with self._lock:
            if self._seen < self._min_window:
                return None
            return Window(self._seen, list(self._window))
