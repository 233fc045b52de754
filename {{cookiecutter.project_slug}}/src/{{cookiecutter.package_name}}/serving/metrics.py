"""The Prometheus metrics every model exports, in a registry of the app's own.

The problem type's metrics (predictions, feedback, live and held-out quality) are added
to the same registry by ``task.Task``. The drift gauges are written by the drift worker
only: a scrape reads them, it never computes them.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from ..schema import DatasetSchema

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class ServiceMetrics:
    def __init__(self, schema: DatasetSchema) -> None:
        self.registry = r = CollectorRegistry()
        self.latency = Histogram(
            "model_prediction_latency_seconds",
            "Time to answer a /predict request, model call included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("model_request_errors", "Refused requests", ["reason"], registry=r)
        self.in_flight = Gauge("model_requests_in_flight", "Predictions being computed", registry=r)
        self.unseen = Counter(
            "model_unseen_categories",
            "Request values of categorical features not seen in training",
            ["feature"],
            registry=r,
        )
        for name in schema.names("categorical"):
            self.unseen.labels(name)  # exported from 0, so rate() sees the first one
        self.info = Info("model", "The model being served", registry=r)
        self.drift_psi = Gauge(
            "model_feature_drift_psi", "PSI of recent requests vs training", ["feature"], registry=r
        )
        self.drift_p_value = Gauge(
            "model_feature_drift_p_value",
            "Drift test p-value of recent requests vs training",
            ["feature"],
            registry=r,
        )
        self.drift_detected = Gauge(
            "model_feature_drift_detected",
            "1 when the feature has drifted",
            ["feature"],
            registry=r,
        )
        self.drift_computed = Gauge(
            "model_drift_computed_timestamp_seconds",
            "When the drift gauges were last computed (Unix time; 0 before the first time)",
            registry=r,
        )
        self.drift_records = Gauge(
            "model_drift_observed_records",
            "Records observed by the service when the drift gauges were last computed",
            registry=r,
        )
