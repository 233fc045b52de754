"""The live drift process: what runs in the process the service's drift worker spawns.

The process gets the baseline (reference rows, schema, rule) once, when it starts, and
then only windows to test against it. This module lives outside ``serving`` on purpose:
the spawned process imports it to find these functions, and importing anything under
``serving`` would load FastAPI, the request models and onnxruntime there too, memory and
start-up time for a process that only runs pandas and SciPy.
"""

import multiprocessing
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .drift_stats import load_statistics
from .monitor import DriftBaseline, DriftReport

# In the drift process: the baseline every window is tested against, set once at start.
_baseline: DriftBaseline | None = None


def _adopt_baseline(baseline: DriftBaseline) -> None:
    """The drift process's initializer: keep the baseline, import SciPy's tests.

    It ignores SIGINT and SIGTERM: Ctrl-C or a signal to the whole process group is the
    server's to handle, and the server ends this process at shutdown (were the server
    killed, the process would see its pipe close and exit).
    """
    global _baseline
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    load_statistics()
    _baseline = baseline


def window_report(rows: Sequence[tuple[Any, ...]]) -> DriftReport | None:
    """Runs in the drift process: the drift of one window."""
    if _baseline is None:
        raise RuntimeError("the drift process started without its baseline")
    return _baseline.report(rows)


def start(baseline: DriftBaseline) -> ProcessPoolExecutor:
    """One worker process, spawned (not forked: the server runs threads), that holds
    ``baseline``; it starts on the first task submitted."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_adopt_baseline,
        initargs=(baseline,),
    )
