"""Live drift, computed off the event loop, by default in a process of its own.

The statistics (a DataFrame of the window, a test and PSI per feature, with pandas and
SciPy) take tens to hundreds of milliseconds of CPU, most of it holding Python's GIL. On
the event loop they would stall every request in flight; in a thread of the server they
still take the GIL from the requests, which measurably slows them under load. So
/predict only appends its records to the window, and a worker thread wakes every
``DRIFT_INTERVAL`` seconds, or as soon as ``DRIFT_RECORDS`` new records arrived (but at
most once a second), sends a copy of the window to the drift process and, while it waits
(without the GIL), lets the server run; then it sets the gauges /metrics reads.

The drift process (``drift_process``, outside this package so it never loads the web
stack) is spawned on the first computation, gets the baseline (reference rows, schema,
rule) once, and then only windows. ``DRIFT_PROCESS=false`` computes in the worker thread
instead, which saves the second process's memory where a container's limit is tight.
"""

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .. import drift_process
from ..drift_stats import load_statistics
from ..live_drift import LiveDriftMonitor
from ..monitor import DriftReport
from ..predictors import Record
from .metrics import ServiceMetrics

log = logging.getLogger(__name__)

# However fast records arrive, at most one computation per second: gauges scraped every
# 15 s gain nothing from more, and each one takes CPU from the requests.
MIN_GAP_SECONDS = 1.0


class DriftWorker:
    def __init__(
        self,
        monitor: LiveDriftMonitor,
        metrics: ServiceMetrics,
        interval: float,
        records: int,
        own_process: bool = True,
    ) -> None:
        self._monitor = monitor
        self._metrics = metrics
        self._interval = interval
        self._records = records
        self._own_process = own_process
        self._executor: Executor | None = None  # the drift process, once spawned
        self._lock = threading.Lock()
        self._pending = 0  # records observed since the worker last woke
        self._computed_at = 0  # the monitor's record count the gauges describe
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prepare(self) -> None:
        """Called while the model loads. Computing in this process, import SciPy's tests
        now (a second or more), so no computation after /ready pays for it; the drift
        process imports them itself, in the background, when its first window comes."""
        if not self._own_process:
            load_statistics()

    def observe(self, records: Sequence[Record]) -> None:
        """Add a request's records to the window (cheap: the handler calls it), and wake
        the worker early once enough records arrived."""
        self._monitor.observe(records)
        with self._lock:
            self._pending += len(records)
            due = self._pending >= self._records
        if due:
            self._wake.set()

    def refresh(self) -> bool:
        """Recompute the gauges if records arrived since last time; True if it did.

        The worker thread calls it. Tests call it to get current gauges without waiting
        for the timer.
        """
        with self._lock:
            self._pending = 0
        window = self._monitor.window()
        if window is None or window.observed == self._computed_at:
            return False
        report = self._report(window.rows)
        if report is None:  # the window could not be tested; monitor.py logged why
            return False
        for feature in report.features:
            self._metrics.drift_psi.labels(feature.name).set(feature.psi)
            self._metrics.drift_p_value.labels(feature.name).set(feature.p_value)
            self._metrics.drift_detected.labels(feature.name).set(int(feature.drifted))
        self._computed_at = window.observed
        self._metrics.drift_records.set(window.observed)
        self._metrics.drift_computed.set(time.time())
        return True

    def _report(self, rows: list[tuple[Any, ...]]) -> DriftReport | None:
        if not self._own_process:
            return self._monitor.baseline.report(rows)
        if self._executor is None:
            self._executor = drift_process.start(self._monitor.baseline)
        try:
            return self._executor.submit(drift_process.window_report, rows).result()
        except BrokenProcessPool:  # killed (out of memory?): spawn a new one next time
            self._executor = None
            raise

    def start(self) -> None:
        self._stop.clear()
        thread = threading.Thread(target=self._run, name="drift-worker", daemon=True)
        thread.start()
        self._thread = thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to finish, waiting up to ``timeout`` for a computation under
        way; then end the drift process."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.refresh()
            except Exception:  # a bad window must not end live drift for good
                log.exception("live drift not computed")
            self._stop.wait(MIN_GAP_SECONDS)
