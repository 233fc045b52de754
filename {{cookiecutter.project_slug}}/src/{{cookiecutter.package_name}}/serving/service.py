"""The state behind the endpoints: the bundle, the model, recent predictions, monitors.

One ``Service`` per app. It loads the model in a thread of its own (``/ready`` is 503
until then), so the process answers probes while a large model loads; tests build one,
call ``load()`` and hand it to ``create_app`` instead of waiting on ``/ready``.
"""

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from ..config import MonitoringSection
from ..live_drift import LiveDriftMonitor
from ..model_io import ServingBundle, export_from_registry
from ..predictors import Predictor, Record
from .batching import Batcher
from .drift import DriftWorker
from .metrics import ServiceMetrics
from .records import RecordSource, open_source
from .settings import Settings
from .task import Task

log = logging.getLogger(__name__)


def open_bundle(settings: Settings) -> ServingBundle:
    """The bundle at MODEL_PATH; with MODEL_URI, first exported there from the registry."""
    if settings.model_uri:
        return export_from_registry(
            settings.model_uri, settings.mlflow_tracking_uri, settings.model_path, {}
        )
    return ServingBundle.open(settings.model_path)


def unseen_categories(
    records: Sequence[Record], seen: Mapping[str, frozenset[str]]
) -> list[tuple[int, str, Any]]:
    """(record index, feature, value) of each category value training never had.

    They are answered, not refused: the encoders give them the representation of no known
    category (features.py). A missing value (None) is imputed, so it is not unseen.
    """
    return [
        (index, name, record[name])
        for index, record in enumerate(records)
        for name, categories in seen.items()
        if record[name] is not None and str(record[name]) not in categories
    ]


class Service:
    def __init__(self, settings: Settings, bundle: ServingBundle) -> None:
        self.settings = settings
        self.bundle = bundle
        schema = bundle.schema
        self.metrics = ServiceMetrics(schema)
        self.task = Task(
            schema, self.metrics.registry, settings, bundle.metadata.get("metrics", {})
        )
        self.seen = {
            f.name: frozenset(f.categories) for f in schema.features if f.kind == "categorical"
        }
        self.predictor: Predictor | None = None
        self.batcher: Batcher | None = None  # the predictor's calls, shared by requests
        self.drift: DriftWorker | None = None
        self.source: RecordSource | None = None
        self.load_error: str | None = None
        self.recent: OrderedDict[str, list[Any]] = OrderedDict()
        self.lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._running = False  # between the app's start-up and its shutdown
        self._lifecycle = threading.Lock()

    def load(self) -> None:
        """Build the predictor and the drift baseline; /ready turns 200 when done."""
        try:
            schema = self.bundle.schema
            predictor = self.bundle.predictor(prefer_onnx=self.settings.prefer_onnx)
            monitoring = MonitoringSection(**self.bundle.metadata.get("monitoring", {}))
            monitor = LiveDriftMonitor(self.bundle.reference(), schema, monitoring)
            self.drift = DriftWorker(
                monitor,
                self.metrics,
                self.settings.drift_interval,
                self.settings.drift_records,
                own_process=self.settings.drift_process,
            )
            self.drift.prepare()
            self.metrics.info.info(
                {
                    "name": self.bundle.metadata["name"],
                    "version": self.bundle.metadata["version"],
                    "alias": self.bundle.metadata["alias"],
                    "runtime": predictor.runtime,
                }
            )
            # Before the predictor, which /ready reports: /predict takes requests once the
            # batcher, the drift worker and the source are set.
            self.source = open_source(self.settings, schema)
            self.batcher = Batcher(
                partial(self.task.predict, predictor),
                offload=predictor.offload,
                max_rows=self.settings.max_batch_size,
            )
            self.predictor = predictor
            log.info("serving %s with %s", self.bundle.path, predictor.runtime)
        except Exception as exc:  # reported by /ready instead of killing the process
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("could not load the model from %s", self.bundle.path)

    def start(self) -> None:
        """Load in the background unless loaded (or loading) already; then watch drift."""
        with self._lifecycle:
            self._running = True
        if self.predictor is not None:
            self._start_drift()
        elif self._loader is None:
            self._loader = threading.Thread(
                target=self._load_then_watch, name="model-loader", daemon=True
            )
            self._loader.start()

    def stop(self) -> None:
        with self._lifecycle:
            self._running = False
            if self.drift is not None:
                self.drift.stop()

    def _load_then_watch(self) -> None:
        self.load()
        # What is alive now (the libraries, the model, the drift baseline) lives as long as
        # the process. Frozen, it is left out of the collector's full passes: over it, each
        # took ~80 ms under load, a stall for every request in flight.
        gc.freeze()
        self._start_drift()

    def _start_drift(self) -> None:
        with self._lifecycle:  # not after stop(), even when the model loads late
            if self._running and self.drift is not None:
                self.drift.start()

    def warnings(self, records: Sequence[Record]) -> list[str]:
        """One line per unseen category value, each also counted for its feature."""
        found = unseen_categories(records, self.seen)
        for _, name, _ in found:
            self.metrics.unseen.labels(name).inc()
        return [
            f"records.{index}.{name}: category {value!r} was not seen in training"
            for index, name, value in found
        ]

    def remember(self, request_id: str, predictions: list[Any]) -> None:
        with self.lock:
            self.recent[request_id] = predictions
            while len(self.recent) > self.settings.feedback_capacity:
                self.recent.popitem(last=False)

    def record_feedback(self, request_id: str, truths: list[Any]) -> dict[str, Any] | None:
        """The feedback answer's fields; None for an unknown request or a wrong length."""
        with self.lock:
            predictions = self.recent.get(request_id)
            if predictions is None or len(predictions) != len(truths):
                return None
            del self.recent[request_id]
            return self.task.score(predictions, truths)
