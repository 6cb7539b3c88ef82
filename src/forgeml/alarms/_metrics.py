"""The metrics store (the CloudWatch metrics role): datapoints in the metadata database.

A datapoint is a *statistic set* (SampleCount, Sum, Minimum, Maximum) for one series — a
namespace, a metric name and its dimensions — at one timestamp, optionally with the raw samples
(kept for percentile statistics; at most :data:`MAX_SAMPLES` per point, a uniform sample beyond
that). A single value is a set of one. Endpoint servers publish one point per metric and variant
per publishing interval, so the hot path only adds to an in-memory tally.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.core.metadata import MetadataStore

MAX_SAMPLES = 2000
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"p(\d{1,2}(\.\d{1,3})?|100)")
_NAME = re.compile(r"[A-Za-z0-9_.\-/:#]{1,255}")

_meta = sa.MetaData()
points = sa.Table(
    "metric_points",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("dimensions", sa.String(1024), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("count", sa.Float, nullable=False),
    sa.Column("sum", sa.Float, nullable=False),
    sa.Column("minimum", sa.Float, nullable=False),
    sa.Column("maximum", sa.Float, nullable=False),
    sa.Column("samples", sa.JSON),
)


@dataclass
class Datapoint:
    """One statistic set of a series."""

    namespace: str
    name: str
    dimensions: dict[str, str]
    timestamp: float
    count: float
    sum: float
    minimum: float
    maximum: float
    samples: list[float] | None = field(default=None)

    @classmethod
    def of(
        cls,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        values: Sequence[float],
        timestamp: float | None = None,
    ) -> Datapoint:
        """The statistic set of ``values`` (raw samples kept for percentiles)."""
        vals = [float(v) for v in values]
        kept = vals if len(vals) <= MAX_SAMPLES else vals[:: math.ceil(len(vals) / MAX_SAMPLES)]
        return cls(namespace, name, dict(dimensions), time.time() if timestamp is None else timestamp,
                   float(len(vals)), float(sum(vals)), min(vals), max(vals), kept)  # fmt: skip


def dims_key(dimensions: dict[str, str]) -> str:
    """The canonical text of a dimension set (sorted keys), how series are matched."""
    return orjson.dumps(dict(sorted((str(k), str(v)) for k, v in dimensions.items()))).decode()


def check_statistic(stat: str, where: str = "statistic") -> str:
    """``stat`` if CloudWatch knows it (SampleCount, Average, Sum, Minimum, Maximum, pNN[.n]).

    Raises:
        ValidationError: anything else.
    """
    if stat in STATISTICS or (_PERCENTILE.fullmatch(stat) and float(stat[1:]) <= 100):
        return stat
    raise ValidationError(
        f"{where}: unknown statistic {stat!r} (expected one of {', '.join(STATISTICS)} or a percentile like p99)"
    )


def check_series(namespace: str, name: str, dimensions: dict[str, str]) -> None:
    """Raises ValidationError naming a bad namespace, metric name or dimension."""
    for what, value in (("namespace", namespace), ("metric name", name)):
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise ValidationError(f"{what} {value!r} must be 1-255 letters, digits or _ . - / : #")
    if len(dimensions) > 30:
        raise ValidationError(f"metric {name!r}: at most 30 dimensions, got {len(dimensions)}")
    for k, v in dimensions.items():
        if not (
            isinstance(k, str) and 1 <= len(k) <= 255 and isinstance(v, str) and 1 <= len(v) <= 1024
        ):
            raise ValidationError(
                f"metric {name!r}: dimension {k!r} needs a name and a value of 1-255/1-1024 characters"
            )


class MetricsStore:
    """Put and read datapoints in the metadata database."""

    def __init__(self, store: MetadataStore) -> None:
        self.store: Any = store  # the SQL store: transaction() / read_transaction() for domain tables

    def put(self, datapoints: Iterable[Datapoint]) -> int:
        """Store datapoints (one transaction); returns how many.

        Raises:
            ValidationError: a bad series or a non-finite value (nothing is stored).
        """
        rows = []
        for p in datapoints:
            check_series(p.namespace, p.name, p.dimensions)
            if p.count <= 0 or not all(
                math.isfinite(x) for x in (p.sum, p.minimum, p.maximum, p.timestamp)
            ):
                raise ValidationError(f"metric {p.name!r}: values must be finite numbers")
            rows.append({"namespace": p.namespace, "name": p.name, "dimensions": dims_key(p.dimensions),
                         "timestamp": float(p.timestamp), "count": p.count, "sum": p.sum, "minimum": p.minimum,
                         "maximum": p.maximum, "samples": p.samples})  # fmt: skip
        if rows:
            with self.store.transaction() as conn:
                conn.execute(points.insert(), rows)
        return len(rows)

    def put_value(self, namespace: str, name: str, value: float, dimensions: dict[str, str] | None = None,
                  timestamp: float | None = None) -> None:  # fmt: skip
        """Store one value (``PutMetricData`` with a single Value)."""
        self.put([Datapoint.of(namespace, name, dimensions or {}, [value], timestamp)])

    def query(
        self, namespace: str, name: str, dimensions: dict[str, str], start: float, end: float
    ) -> list[Datapoint]:
        """The datapoints of one series with ``start <= timestamp < end``, oldest first."""
        q = (
            sa.select(points)
            .where(
                points.c.namespace == namespace,
                points.c.name == name,
                points.c.dimensions == dims_key(dimensions),
                points.c.timestamp >= start,
                points.c.timestamp < end,
            )
            .order_by(points.c.timestamp)
        )
        with self.store.read_transaction() as conn:
            return [
                Datapoint(
                    r.namespace,
                    r.name,
                    orjson.loads(r.dimensions),
                    r.timestamp,
                    r.count,
                    r.sum,
                    r.minimum,
                    r.maximum,
                    r.samples,
                )
                for r in conn.execute(q)
            ]

    def series(self, namespace: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """The distinct series (``ListMetrics``), optionally filtered."""
        q = sa.select(points.c.namespace, points.c.name, points.c.dimensions).distinct()
        if namespace:
            q = q.where(points.c.namespace == namespace)
        if name:
            q = q.where(points.c.name == name)
        with self.store.read_transaction() as conn:
            rows = conn.execute(
                q.order_by(points.c.namespace, points.c.name, points.c.dimensions)
            ).all()
        return [{"namespace": r[0], "name": r[1], "dimensions": orjson.loads(r[2])} for r in rows]

    def statistics(self, namespace: str, name: str, dimensions: dict[str, str], *, start: float, end: float,
                   period: float, statistic: str) -> list[tuple[float, float | None]]:  # fmt: skip
        """``GetMetricStatistics``: for each period in ``[start, end)``, its start and the
        statistic's value (None where the period has no datapoint: missing data)."""
        check_statistic(statistic)
        found = self.query(namespace, name, dimensions, start, end)
        n = max(0, round((end - start) / period))
        buckets: list[list[Datapoint]] = [[] for _ in range(n)]
        for p in found:
            i = int((p.timestamp - start) // period)
            if 0 <= i < n:
                buckets[i].append(p)
        return [(start + i * period, aggregate(b, statistic)) for i, b in enumerate(buckets)]


def aggregate(found: Sequence[Datapoint], statistic: str) -> float | None:
    """One statistic over datapoints (None for none). Percentiles use the kept raw samples
    (nearest rank, as CloudWatch), falling back to each point's mean where none were kept."""
    if not found:
        return None
    count = sum(p.count for p in found)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(p.sum for p in found)
    if statistic == "Average":
        return sum(p.sum for p in found) / count
    if statistic == "Minimum":
        return min(p.minimum for p in found)
    if statistic == "Maximum":
        return max(p.maximum for p in found)
    q = float(statistic[1:])
    values = sorted(v for p in found for v in (p.samples if p.samples else [p.sum / p.count]))
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


__all__ = [
    "MAX_SAMPLES",
    "STATISTICS",
    "Datapoint",
    "MetricsStore",
    "aggregate",
    "check_statistic",
    "dims_key",
]
