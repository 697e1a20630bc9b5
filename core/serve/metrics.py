"""Prometheus metrics of one server (its own registry, so several apps can share a process).

Example::

    metrics = ServeMetrics()
    metrics.requests.labels(status="200").inc()
    text = metrics.render()          # Prometheus text format for GET /metrics
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["BATCH_BUCKETS", "CONTENT_TYPE", "ServeMetrics"]

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics:
    """Requests by status, inputs embedded, batch sizes, queue depth, request latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "clipbridge_requests",
            "Embedding requests answered, by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.inputs = Counter(
            "clipbridge_inputs_embedded",
            "Input items embedded, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "clipbridge_batch_size",
            "Items per model call formed by the batcher, by kind",
            ["kind"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "clipbridge_queue_depth",
            "Input items admitted and not yet answered",
            registry=self.registry,
        )
        self.latency = Histogram(
            "clipbridge_request_seconds",
            "Wall time of POST /v1/embeddings, admission to response",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def set_replica(self, name: str) -> None:
        """Mark every scrape with ``clipbridge_replica_info{replica=name} 1`` (``serve --ray``).

        Under Ray Serve each replica keeps its own counters and the proxy routes a scrape of
        ``/metrics`` to any one of them; this series says which one answered.
        """
        info = Gauge(
            "clipbridge_replica_info",
            "The Ray Serve replica whose counters this scrape shows (serve --ray)",
            ["replica"],
            registry=self.registry,
        )
        info.labels(replica=name).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
