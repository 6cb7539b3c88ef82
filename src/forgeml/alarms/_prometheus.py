"""Prometheus exposition of ``forgeml server`` (``GET /metrics`` when a scraper asks for text).

Three sources, none duplicated:

* **Monitoring metrics** from the metrics store (every namespace except the endpoints'
  ``AWS/SageMaker``): the newest point of each series as a gauge. ``feature_baseline_drift_<f>``
  and ``feature_non_null_<f>`` become ``forgeml_monitoring_feature_baseline_drift`` and
  ``forgeml_monitoring_feature_non_null`` with a ``feature`` label; every other metric (model
  quality ``accuracy``, CBPE ``estimated_roc_auc`` ...) becomes ``forgeml_monitoring_<metric>``.
  Labels: ``namespace`` and the series' dimensions in snake case (``monitoring_schedule``,
  ``endpoint``).
* **Endpoint metrics**: each serving endpoint already exports invocations, errors, latency
  histograms and model-cache counters on its own ``/metrics`` (``forgeml.serving._metrics``);
  they are read from the endpoint processes this workspace started (``127.0.0.1``) and merged
  family by family, plus ``forgeml_endpoint_up{endpoint}`` (0 when one did not answer).
* **Alarm states**: ``forgeml_alarm_state{alarm, state}``, 1 for the current state, 0 else.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

ENDPOINT_NAMESPACE = "AWS/SageMaker"
FEATURE_METRICS = ("feature_baseline_drift_", "feature_non_null_")
SCRAPE_TIMEOUT = 2.0
_BAD = re.compile(r"[^a-zA-Z0-9_]")
CONTENT_TYPES = ("text/plain", "application/openmetrics-text")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # our own processes: never via a proxy


def wants_exposition(accept: str | None, fmt: str | None = None) -> bool:
    """Whether a request asks for Prometheus text: ``?format=prometheus``, or an Accept header
    that names text/plain or OpenMetrics ahead of (or without) JSON, as Prometheus sends it."""
    if fmt is not None:
        return fmt == "prometheus"
    text = (accept or "").lower()
    hits = [text.find(t) for t in CONTENT_TYPES if t in text]
    if not hits:
        return False
    json_at = text.find("application/json")
    return json_at < 0 or min(hits) < json_at


def snake(name: str) -> str:
    """``MonitoringSchedule`` -> ``monitoring_schedule``; anything else Prometheus refuses -> ``_``."""
    out = _BAD.sub("_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)).lower()
    return out if out and not out[0].isdigit() else f"_{out}"


def latest_points(ws: Workspace) -> list[tuple[str, str, dict[str, str], float]]:
    """``(namespace, metric, dimensions, value)`` of the newest point of every monitoring series."""
    from forgeml.alarms._metrics import points

    newest = (
        sa.select(sa.func.max(points.c.id).label("id"))
        .where(points.c.namespace != ENDPOINT_NAMESPACE)
        .group_by(points.c.namespace, points.c.name, points.c.dimensions)
        .subquery()
    )
    q = sa.select(points.c.namespace, points.c.name, points.c.dimensions, points.c.sum, points.c.count).join(
        newest, points.c.id == newest.c.id
    )
    with ws.metadata.read_transaction() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(q).all()
    return [(r[0], r[1], orjson.loads(r[2]), float(r[3]) / float(r[4])) for r in rows]


def monitoring_families(ws: Workspace) -> Iterator[Any]:
    """Gauges of the newest monitoring points (see the module docstring for names and labels)."""
    from prometheus_client.core import GaugeMetricFamily

    families: dict[str, tuple[GaugeMetricFamily, list[str]]] = {}
    for namespace, metric, dims, value in sorted(latest_points(ws), key=lambda p: (p[1], p[0], sorted(p[2].items()))):
        labels = {"namespace": namespace}
        family_name = "forgeml_monitoring_" + snake(metric)
        for prefix in FEATURE_METRICS:
            if metric.startswith(prefix) and len(metric) > len(prefix):
                family_name, labels["feature"] = "forgeml_monitoring_" + prefix.rstrip("_"), metric[len(prefix):]
        labels |= {snake(k): str(v) for k, v in dims.items() if snake(k) not in labels}
        if family_name not in families:
            help_text = f"Newest value of the monitoring metric {family_name[len('forgeml_monitoring_'):]} (metrics store)."
            families[family_name] = (GaugeMetricFamily(family_name, help_text, labels=None), [])
        family, _ = families[family_name]
        family.samples.append(_sample(family_name, labels, value))
    for family, _ in families.values():
        yield family


def _sample(name: str, labels: dict[str, str], value: float) -> Any:
    from prometheus_client.samples import Sample

    return Sample(name, labels, value, None, None)


def endpoint_families(ws: Workspace) -> Iterator[Any]:
    """The serving endpoints' own families, merged (samples keep their ``endpoint`` label)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.parser import text_string_to_metric_families

    merged: dict[str, Any] = {}
    up = GaugeMetricFamily("forgeml_endpoint_up", "1 when the endpoint's server answered /metrics, else 0.", labels=["endpoint"])
    for record in ws.endpoints.list():
        port = record.data.get("port")
        if record.status not in ("InService", "Updating") or not port:
            continue
        try:
            with _OPENER.open(f"http://127.0.0.1:{int(port)}/metrics", timeout=SCRAPE_TIMEOUT) as resp:
                text = resp.read().decode()
            parsed = list(text_string_to_metric_families(text))
        except (OSError, ValueError):
            up.add_metric([record.name], 0.0)
            continue
        up.add_metric([record.name], 1.0)
        for family in parsed:
            if family.name in merged:
                merged[family.name].samples.extend(family.samples)
            else:
                merged[family.name] = family
    yield up
    yield from merged.values()


def alarm_families(ws: Workspace) -> Iterator[Any]:
    """``forgeml_alarm_state{alarm, state}``."""
    from prometheus_client.core import GaugeMetricFamily

    from forgeml.alarms._evaluate import STATES

    family = GaugeMetricFamily("forgeml_alarm_state", "1 for each alarm's current state, 0 for the others.", labels=["alarm", "state"])
    for record in ws.alarms.list():
        for state in STATES:
            family.add_metric([record.name, state], 1.0 if record.status == state else 0.0)
    yield family


class WorkspaceCollector:
    """A prometheus_client collector over one workspace (built per scrape)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def collect(self) -> Iterator[Any]:
        yield from monitoring_families(self.ws)
        yield from endpoint_families(self.ws)
        yield from alarm_families(self.ws)


def exposition(ws: Workspace) -> tuple[bytes, str]:
    """The text exposition (format 0.0.4) and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkspaceCollector(ws))  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = ["WorkspaceCollector", "exposition", "latest_points", "snake", "wants_exposition"]
