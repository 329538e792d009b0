"""Prometheus metrics of one predictor process.

Under gunicorn every worker counts for itself; with PROMETHEUS_MULTIPROC_DIR set (the gunicorn config
sets it) their values are shared through files there, so /metrics on any worker reports the sum.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self):
        # In multiprocess mode the values live in files and are collected per scrape; otherwise this
        # process's own registry holds them (one per app, so tests can build several apps).
        self._registry = None if multiprocess_dir() else CollectorRegistry()
        registry = self._registry
        self.requests = Counter(
            "taxifare_predictor_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "taxifare_predictor_request_seconds",
            "HTTP request latency by endpoint and status",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "taxifare_predictor_predictions",
            "Trips predicted, by model version",
            ["model_version"],
            registry=registry,
        )
        self.model_calls = Counter(
            "taxifare_predictor_model_calls",
            "Model calls; fewer than predict requests when concurrent requests share a call",
            registry=registry,
        )
        self.log_queue_rows = Gauge(
            "taxifare_predictor_log_queue_rows",
            "Rows waiting to be written to the database, by table",
            ["table"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.logs_written = Counter(
            "taxifare_predictor_logs_written",
            "Rows written to the database, by table",
            ["table"],
            registry=registry,
        )
        self.logs_dropped = Counter(
            "taxifare_predictor_logs_dropped",
            "Rows dropped because the buffer was full (database down or too slow), by table",
            ["table"],
            registry=registry,
        )
        self.log_write_errors = Counter(
            "taxifare_predictor_log_write_errors",
            "Failed batch writes (retried), by table",
            ["table"],
            registry=registry,
        )
        self.logs_rejected = Counter(
            "taxifare_predictor_logs_rejected",
            "Rows the database refused on their own (dropped; every other row of their batch written), by table",
            ["table"],
            registry=registry,
        )
        self.actuals_unmatched = Counter(
            "taxifare_predictor_actuals_unmatched",
            "Actual fares dropped because no prediction has their request id",
            registry=registry,
        )
        self.fares_clamped = Counter(
            "taxifare_predictor_fares_clamped",
            "Predicted fares outside the possible range, served and logged clamped to it",
            registry=registry,
        )
        self.model_loads = Counter(
            "taxifare_predictor_model_loads",
            "Model loads by outcome (ok, failed)",
            ["outcome"],
            registry=registry,
        )

        # Labelled children, looked up once: labels() takes a lock and builds a key on every call.
        self._request_counters: dict[tuple[str, int], tuple] = {}
        self._predictions_of: dict[str, object] = {}

    def request_counters(self, endpoint: str, status: int) -> tuple:
        """(count(), observe(seconds)) of one endpoint and status."""
        found = self._request_counters.get((endpoint, status))
        if found is None:
            labels = (endpoint, str(status))
            found = (self.requests.labels(*labels).inc, self.latency.labels(*labels).observe)
            self._request_counters[(endpoint, status)] = found
        return found

    def predicted(self, version: str, trips: int) -> None:
        counter = self._predictions_of.get(version)
        if counter is None:
            counter = self._predictions_of[version] = self.predictions.labels(version)
        counter.inc(trips)

    def exposition(self) -> bytes:
        if self._registry is not None:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
