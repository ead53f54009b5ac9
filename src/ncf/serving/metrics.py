"""Prometheus metrics of the server: requests, latency, the model version and reloads.

With several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``ncf serve`` does) and every worker's
counts are merged at ``/metrics``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from ncf.app.recommender import Recommender

#: Latency buckets (seconds) around a recommender's useful range: 0.5 ms .. 2.5 s.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Requests per micro-batch.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The server's own registry (never the process-global one, so tests and apps stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ncf_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("ncf_request_seconds", "Request latency by route", ["route"], buckets=BUCKETS,
                                 registry=self.registry)
        self.model = Gauge("ncf_model_info", "The model being served (value 1)", ["version", "model"],
                           registry=self.registry, multiprocess_mode="liveall")
        self.items = Gauge("ncf_catalogue_items", "Items the model ranks", registry=self.registry,
                           multiprocess_mode="liveall")
        self.reloads = Counter("ncf_reloads", "Model reloads by outcome", ["outcome"], registry=self.registry)
        self.batches = Histogram("ncf_batch_requests", "GET /recommend requests ranked together in one batch",
                                 buckets=BATCH_BUCKETS, registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def batch_size(self, requests: int) -> None:
        """One micro-batch of ``requests`` single-user requests was ranked."""
        self.batches.observe(requests)

    def set_model(self, rec: Recommender) -> None:
        """The model now served (both reload outcomes start at 0, so they are always exported)."""
        self.model.clear()
        self.model.labels(rec.version, rec.model.name).set(1)
        self.items.set(rec.num_items)
        self.reloads.labels("ok").inc(0)
        self.reloads.labels("refused").inc(0)

    def reload_ok(self, rec: Recommender) -> None:
        """A reload swapped ``rec`` in (by ``/admin/reload``, SIGHUP or the workers' pointer file)."""
        self.set_model(rec)
        self.reloads.labels("ok").inc()

    def reload_failed(self) -> None:
        self.reloads.labels("refused").inc()

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
