"""The comparison report of a shadow test: production against shadow, over the same requests.

Read from the pair lines the endpoint workers write (serving/_shadow.py). For each side:
requests, errors, error rate, and latency percentiles (p50/p90/p99, mean, max, in ms, measured
in the worker: the production side from request to response, the shadow side the model call).
Over the requests both answered:

* classification (answers carry ``predicted_label``): the share of rows where the labels agree,
  and the counts of (production label, shadow label);
* regression (answers carry ``prediction``): the distribution of ``shadow - production``: mean,
  standard deviation, mean and percentiles of the absolute difference, and the largest one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

PERCENTILES = (50, 90, 99)


def read_pairs(folder: Path, endpoint: str, envelope: Any, start: float, end: float | None) -> Iterator[dict[str, Any]]:
    """The pair lines of ``folder`` written in ``[start, end]`` (sealed ones opened with ``envelope``)."""
    from forgeml.security import read_lines

    if not folder.is_dir():
        return
    for path in sorted(folder.glob("pairs-*.jsonl")):
        for line in read_lines(path, envelope, f"shadow:{endpoint}"):
            if not line.strip():
                continue
            try:
                pair = orjson.loads(line)
            except orjson.JSONDecodeError:  # a line cut by a kill -9 mid-write
                continue
            t = float(pair.get("time", 0))
            if t >= start and (end is None or t <= end):
                yield pair


def _latency(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {f"p{p}": None for p in PERCENTILES} | {"mean": None, "max": None}
    arr = np.asarray(values, dtype=float)
    out: dict[str, float | None] = {f"p{p}": round(float(np.percentile(arr, p)), 4) for p in PERCENTILES}
    out["mean"] = round(float(arr.mean()), 4)
    out["max"] = round(float(arr.max()), 4)
    return out


def _side(pairs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    sides = [p[key] for p in pairs]
    errors = sum(1 for s in sides if s.get("status") != 200)
    return {
        "requests": len(sides), "errors": errors, "error_rate": round(errors / len(sides), 6) if sides else None,
        "latency_ms": _latency([float(s["latency_ms"]) for s in sides if s.get("latency_ms") is not None]),
    }  # fmt: skip


def problem_type(pairs: Iterable[dict[str, Any]]) -> str | None:
    """``classification`` or ``regression`` from the answers' fields; None without an answer."""
    for p in pairs:
        for side in ("production", "shadow"):
            preds = p[side].get("predictions") or []
            if preds:
                if "predicted_label" in preds[0]:
                    return "classification"
                if "prediction" in preds[0]:
                    return "regression"
    return None


def compare(pairs: list[dict[str, Any]], kind: str = "auto") -> dict[str, Any]:
    """The comparison report over ``pairs``.

    Args:
        kind: ``classification``, ``regression`` or ``auto`` (from the answers' fields).
    """
    report: dict[str, Any] = {"requests": len(pairs), "production": _side(pairs, "production"), "shadow": _side(pairs, "shadow")}
    both = [p for p in pairs if p["production"].get("status") == 200 and p["shadow"].get("status") == 200]
    kind = problem_type(both) if kind == "auto" else kind
    report["problem_type"] = kind
    report["compared_requests"] = len(both)
    prod, shadow = [], []
    for p in both:
        a, b = p["production"].get("predictions") or [], p["shadow"].get("predictions") or []
        prod.extend(a[: len(b)])
        shadow.extend(b[: len(a)])
    report["compared_rows"] = len(prod)
    if kind == "classification":
        pa = [r.get("predicted_label") for r in prod]
        pb = [r.get("predicted_label") for r in shadow]
        agree = sum(1 for x, y in zip(pa, pb, strict=True) if x == y)
        counts: dict[str, dict[str, int]] = {}
        for x, y in zip(pa, pb, strict=True):
            row = counts.setdefault(str(x), {})
            row[str(y)] = row.get(str(y), 0) + 1
        report["agreement"] = {"rate": round(agree / len(pa), 6) if pa else None, "agreeing_rows": agree,
                               "label_counts": counts}  # fmt: skip
    elif kind == "regression":
        diff = np.asarray([float(b["prediction"]) - float(a["prediction"]) for a, b in zip(prod, shadow, strict=True)])
        if diff.size:
            ad = np.abs(diff)
            report["difference"] = {
                "mean": round(float(diff.mean()), 6), "std": round(float(diff.std()), 6),
                "mean_absolute": round(float(ad.mean()), 6), "max_absolute": round(float(ad.max()), 6),
                **{f"p{p}_absolute": round(float(np.percentile(ad, p)), 6) for p in PERCENTILES},
            }  # fmt: skip
        else:
            report["difference"] = None
    return report


__all__ = ["compare", "problem_type", "read_pairs"]
