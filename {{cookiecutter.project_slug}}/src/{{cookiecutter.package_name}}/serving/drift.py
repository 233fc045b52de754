"""Live drift, computed by a background thread so requests and scrapes never wait for it.

The statistics (a DataFrame of the window, a test and PSI per feature, with pandas and
SciPy) take tens to hundreds of milliseconds. On the event loop they would stall every
request in flight meanwhile; computed per scrape, they would set the service's p99. So
/predict only appends its records to the window, the worker recomputes the gauges every
``DRIFT_INTERVAL`` seconds, or as soon as ``DRIFT_RECORDS`` new records arrived (but at
most once a second), and /metrics reads whatever the worker last wrote.
"""

import logging
import threading
import time
from collections.abc import Sequence

from ..model_io import Record
from ..monitor import LiveDriftMonitor
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
    ) -> None:
        self._monitor = monitor
        self._metrics = metrics
        self._interval = interval
        self._records = records
        self._lock = threading.Lock()
        self._pending = 0  # records observed since the worker last woke
        self._computed_at = 0  # the monitor's record count the gauges describe
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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

        CPU work: the worker thread calls it. Tests call it to get current gauges
        without waiting for the timer.
        """
        with self._lock:
            self._pending = 0
        observed = self._monitor.observed
        if observed == self._computed_at:
            return False
        report = self._monitor.report()
        if report is None:  # fewer than monitoring.min_window records so far
            return False
        for feature in report.features:
            self._metrics.drift_psi.labels(feature.name).set(feature.psi)
            self._metrics.drift_p_value.labels(feature.name).set(feature.p_value)
            self._metrics.drift_detected.labels(feature.name).set(int(feature.drifted))
        self._computed_at = observed
        self._metrics.drift_records.set(observed)
        self._metrics.drift_computed.set(time.time())
        return True

    def start(self) -> None:
        self._stop.clear()
        thread = threading.Thread(target=self._run, name="drift-worker", daemon=True)
        thread.start()
        self._thread = thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to finish; waits for a computation under way, up to ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

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
