"""Prometheus metrics of an endpoint: invocations, errors and latency per variant.

With several worker processes, prometheus_client's multiprocess mode is used: the server sets
``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per endpoint version) before any worker starts, each
worker writes its own memory-mapped files, and ``/metrics`` adds them up. In a single process
(tests, in-process apps) the metrics live in a private registry.
"""

from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class EndpointMetrics:
    """The metric families of one endpoint, labelled by variant."""

    def __init__(self, endpoint: str, publisher: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.endpoint = endpoint
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiprocess else CollectorRegistry()
        kw: dict[str, Any] = {"registry": self.registry}
        labels = ["endpoint", "variant"]
        self.invocations = Counter("forgeml_endpoint_invocations", "Invocations answered, by variant.", labels, **kw)
        self.errors = Counter(
            "forgeml_endpoint_invocation_errors", "Invocations answered with an error, by variant and status.",
            [*labels, "status"], **kw,
        )  # fmt: skip
        self.latency = Histogram(
            "forgeml_endpoint_latency_seconds", "Time from request to response, by variant.", labels,
            buckets=LATENCY_BUCKETS, **kw,
        )  # fmt: skip
        self.cache_hits = Counter("forgeml_endpoint_model_cache_hits", "Multi-model calls served by a loaded model.", labels, **kw)
        self.model_loads = Counter("forgeml_endpoint_model_loads", "Multi-model loads (cache misses).", labels, **kw)
        self.loading_wait = Histogram(
            "forgeml_endpoint_model_loading_wait_seconds", "Time a multi-model call waited for its model to load.",
            labels, buckets=LATENCY_BUCKETS, **kw,
        )  # fmt: skip
        self.fallbacks = Counter(
            "forgeml_endpoint_fallbacks", "Requests a variant handed to its fallback variant, by reason (latency, error).",
            [*labels, "fallback", "reason"], **kw,
        )  # fmt: skip
        self.shadow_dropped = Counter(
            "forgeml_endpoint_shadow_dropped", "Shadow copies dropped because the shadow variant fell behind.", labels, **kw
        )
        gauge_kw = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.loaded_models = Gauge(
            "forgeml_endpoint_loaded_models", "Models loaded in memory.", labels, **kw, **gauge_kw
        )
        self._children: dict[str, tuple[Any, Any]] = {}
        self.publisher = publisher  # forgeml.alarms._publish.MetricsPublisher: the metrics store

    def observe(self, variant: str, seconds: float) -> None:
        """One successful invocation."""
        pair = self._children.get(variant)
        if pair is None:
            pair = (self.invocations.labels(self.endpoint, variant), self.latency.labels(self.endpoint, variant))
            self._children[variant] = pair
        pair[0].inc()
        pair[1].observe(seconds)
        if self.publisher is not None:
            self.publisher.record(variant, 200, seconds)

    def error(self, variant: str, status: int, seconds: float) -> None:
        """One invocation answered with an error (counted in invocations too, like SageMaker)."""
        self.invocations.labels(self.endpoint, variant).inc()
        self.errors.labels(self.endpoint, variant, str(status)).inc()
        self.latency.labels(self.endpoint, variant).observe(seconds)
        if self.publisher is not None:
            self.publisher.record(variant, status, seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["LATENCY_BUCKETS", "EndpointMetrics"]
