"""Rows of the CBPE estimate-vs-realized table (``forgeml monitor quality --estimator``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def estimate_rows(block: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """``metric, estimated, band, realized, agrees, thresholds, alert`` per metric of an estimates block."""
    for metric, v in (block.get("metrics") or {}).items():
        band = f"{_num(v['lower_confidence_boundary'])} - {_num(v['upper_confidence_boundary'])}"
        thresholds = f"{_num(v['lower_threshold'])} - {_num(v['upper_threshold'])}"
        agrees = {None: "-", True: "yes", False: "NO"}[v.get("agrees")]
        yield metric, _num(v["estimated"]), band, _num(v["realized"]), agrees, thresholds, "ALERT" if v["alert"] else ""


__all__ = ["estimate_rows"]
