"""Endpoint metrics into the metrics store, published from each endpoint worker.

The hot path appends one ``(variant, status, seconds)`` tuple to a list (no lock: a list append
is atomic); a daemon thread of the worker swaps the list out every ``interval`` seconds and
writes one statistic set per metric and variant in one transaction. SageMaker's metric names
and dimensions (namespace ``AWS/SageMaker``, ``EndpointName`` and ``VariantName``), per
invocation: ``Invocations`` (1), ``Invocation4XXErrors`` and ``Invocation5XXErrors`` (0 or 1, so
their Average is the error rate) and ``ModelLatency`` in microseconds (the server's time for
the request, answered ones only). No traffic in an interval publishes nothing: missing data.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

NAMESPACE = "AWS/SageMaker"
log = logging.getLogger(__name__)


class MetricsPublisher:
    """One worker's tally of invocations and its flushing thread (started on first use)."""

    def __init__(self, endpoint: str, database_url: str, interval: float) -> None:
        self.endpoint = endpoint
        self.database_url = database_url
        self.interval = interval
        self._tally: list[tuple[str, int, float]] = []
        self._pid = 0
        self._stop = threading.Event()
        self._store: Any = None

    def record(self, variant: str, status: int, seconds: float) -> None:
        """One answered invocation (cheap: the hot path)."""
        if self._pid != os.getpid():
            self._start()
        self._tally.append((variant, status, seconds))

    def _start(self) -> None:
        self._pid = os.getpid()
        self._tally = []
        threading.Thread(target=self._run, name="forgeml-metrics", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def close(self) -> None:
        """Flush what is left and stop the thread."""
        self._stop.set()
        self.flush()

    def flush(self) -> int:
        """Write the tally since the last flush; returns the datapoints written (errors are
        logged: metrics never fail an invocation)."""
        taken, self._tally = self._tally, []
        if not taken:
            return 0
        from forgeml.alarms._metrics import Datapoint, MetricsStore

        by_variant: dict[str, list[tuple[int, float]]] = {}
        for variant, status, seconds in taken:
            by_variant.setdefault(variant, []).append((status, seconds))
        out = []
        for variant, calls in by_variant.items():
            dims = {"EndpointName": self.endpoint, "VariantName": variant}
            out.append(Datapoint.of(NAMESPACE, "Invocations", dims, [1.0] * len(calls)))
            out.append(
                Datapoint.of(
                    NAMESPACE,
                    "Invocation4XXErrors",
                    dims,
                    [float(400 <= s < 500) for s, _ in calls],
                )
            )
            out.append(
                Datapoint.of(
                    NAMESPACE, "Invocation5XXErrors", dims, [float(s >= 500) for s, _ in calls]
                )
            )
            latency = [t * 1e6 for s, t in calls if s < 400]
            if latency:
                out.append(Datapoint.of(NAMESPACE, "ModelLatency", dims, latency))
        try:
            if self._store is None:
                from forgeml.core.metadata import SqlMetadataStore

                self._store = SqlMetadataStore(self.database_url, migrate=False)
            return MetricsStore(self._store).put(out)
        except Exception:
            log.warning("could not publish %d endpoint datapoints", len(out), exc_info=True)
            return 0


MONITORING_NAMESPACE = "forgeml/monitoring/data-metrics"


def publish_monitoring(
    ws: Any, schedule: str, source: dict[str, Any], metrics: dict[str, float],
    namespace: str = MONITORING_NAMESPACE,
) -> None:
    """A monitoring execution's metrics (``feature_baseline_drift_<f>``, ...) as datapoints of
    ``forgeml/monitoring/data-metrics`` with SageMaker's dimensions ``MonitoringSchedule`` and,
    for captured traffic, ``Endpoint`` (NaN values are undefined and not published)."""
    from forgeml.alarms._metrics import Datapoint, MetricsStore

    dims = {"MonitoringSchedule": schedule}
    if source.get("endpoint"):
        dims["Endpoint"] = str(source["endpoint"])
    points = [
        Datapoint.of(namespace, k, dims, [float(v)])
        for k, v in metrics.items()
        if v == v
    ]
    MetricsStore(ws.metadata).put(points)


__all__ = ["MONITORING_NAMESPACE", "NAMESPACE", "MetricsPublisher", "publish_monitoring"]
