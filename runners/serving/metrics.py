"""The model server's Prometheus metrics, with prometheus_client: one registry per server, with the
process and platform collectors, so /metrics also shows CPU, memory and open file descriptors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# Seconds: from a cached small request (about 1 ms) to a large batch on a busy machine.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Predicted probability of a big tip, in tenths.
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Rows per model call after batching.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServingMetrics:
    """Every metric the server exports, as attributes; prometheus_client makes each update thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.requests = Counter(
            "taxi_serving_requests", "HTTP requests by endpoint and status code.", ["code", "endpoint"], registry=r
        )
        self.errors = Counter(
            "taxi_serving_errors", "HTTP requests answered with a 4xx or 5xx code.", ["code", "endpoint"], registry=r
        )
        self.duration = Histogram(
            "taxi_serving_request_duration_seconds",
            "Time from a request's headers being read to its answer being ready, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "taxi_serving_requests_in_flight", "HTTP requests being answered now (read, not yet answered).", registry=r
        )
        self.predictions = Counter(
            "taxi_serving_predictions", "Instances predicted, by model version.", ["version"], registry=r
        )
        self.scores = Histogram(
            "taxi_serving_prediction_score",
            "Predicted probability of a big tip, by model version.",
            ["version"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.explanations = Counter(
            "taxi_serving_explanations", "Instances explained, by model version.", ["version"], registry=r
        )
        self.model_version = Gauge(
            "taxi_serving_model_version", "The model version serving now (the highest loaded).", ["model"], registry=r
        )
        self.model_loads = Counter(
            "taxi_serving_model_loads", "Model versions loaded, by result.", ["result"], registry=r
        )
        self.models_loaded = Gauge("taxi_serving_models_loaded", "Model versions loaded now.", registry=r)
        self.load_failures = Counter("taxi_serving_model_load_failures", "Model version loads that failed.", registry=r)
        self.logged_rows = Counter("taxi_serving_logged_rows", "Instances written to the request log.", registry=r)
        self.log_dropped_rows = Counter(
            "taxi_serving_log_dropped_rows",
            "Sampled instances dropped because the log writer lagged.",
            registry=r,
        )
        self.log_deleted_files = Counter(
            "taxi_serving_log_deleted_files", "Request log files deleted by retention (size or age).", registry=r
        )
        self.out_of_domain = Counter(
            "taxi_serving_out_of_domain_values",
            "Values outside the served schema's domain, by feature (refused with --strict-domains, else served).",
            ["feature"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "taxi_serving_batch_rows",
            "Rows per model call after joining concurrent requests.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )

    def predicted(self, version: int, scores: list[list[float]]) -> None:
        """Counts a version's predictions and adds their scores (the first output) to its histogram."""
        self.predictions.labels(version=str(version)).inc(len(scores))
        histogram = self.scores.labels(version=str(version))
        for row in scores:
            if row:
                histogram.observe(row[0])

    def render(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return bytes(generate_latest(self.registry))
