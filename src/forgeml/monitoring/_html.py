"""The HTML report of a monitoring execution: baseline vs window per feature, self-contained
(inline CSS and SVG; no script, no CDN)."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from forgeml.evaluation._html import render_report, table_html
from forgeml.evaluation._svg import bar_chart, line_chart
from forgeml.monitoring._drift import _cdf, _weighted


def _stats(feature: dict[str, Any]) -> dict[str, Any]:
    return feature.get("numerical_statistics") or feature.get("string_statistics") or {}


def _cdf_points(levels: list[list[float]], grid: np.ndarray) -> list[float]:
    values, weights = _weighted(levels)
    return [float(v) for v in _cdf(values, weights, grid)] if values.size else []


def _numeric(name: str, base: dict[str, Any], cur: dict[str, Any]) -> str:
    b_levels = _stats(base).get("distribution", {}).get("kll", {}).get("sketch", {}).get("data", [])
    c_levels = _stats(cur).get("distribution", {}).get("kll", {}).get("sketch", {}).get("data", [])
    keys = np.concatenate([np.concatenate([np.asarray(x, float) for x in lv]) for lv in (b_levels, c_levels) if lv]) if (b_levels or c_levels) else np.empty(0)
    if keys.size == 0:
        return ""
    grid = np.linspace(keys.min(), keys.max(), 120)
    series = [(label, list(grid), ys) for label, lv in (("baseline", b_levels), ("window", c_levels))
              if (ys := _cdf_points(lv, grid))]  # fmt: skip
    return line_chart(series, title=f"{name}: CDF", xlabel=name, ylabel="fraction <= x", unit_square=False, css_class="cdf")


def _categorical(base: dict[str, Any], cur: dict[str, Any]) -> str:
    def shares(feature: dict[str, Any]) -> dict[str, float]:
        buckets = _stats(feature).get("distribution", {}).get("categorical", {}).get("buckets", [])
        total = sum(float(b["count"]) for b in buckets) or 1.0
        return {str(b["value"]): float(b["count"]) / total for b in buckets}

    a, b = shares(base), shares(cur)
    top = sorted(set(a) | set(b), key=lambda v: -(a.get(v, 0) + b.get(v, 0)))[:12]
    return table_html([(v, f"{100 * a.get(v, 0):.1f}%", f"{100 * b.get(v, 0):.1f}%") for v in top], ("value", "baseline", "window"))


def render(title: str, *, baseline: dict[str, Any], window: dict[str, Any], violations: list[dict[str, str]],
           drift: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:  # fmt: skip
    """The whole page."""
    parts = [f"<p>Status: <b>{escape(str(summary.get('status')))}</b>. {escape(str(summary.get('message', '')))}</p>"]
    counts = summary.get("capture") or {}
    if counts:
        parts.append(table_html(sorted(counts.items()), ("capture", "count")))
    parts.append(f"<h2>Violations ({len(violations)})</h2>")
    parts.append(table_html([(v["feature_name"], v["constraint_check_type"], v["description"]) for v in violations],
                            ("feature", "check", "description")) if violations else "<p class=\"pass\">none</p>")  # fmt: skip
    if drift:
        names = list(drift)
        parts.append(bar_chart(names, [float(d["distance"]) for d in drift.values()], title="Drift per feature",
                               xlabel="distance (p-value for ChiSquared)", css_class="drift"))  # fmt: skip
    current = {f["name"]: f for f in window.get("features", [])}
    for base in baseline.get("features", []):
        name = base["name"]
        cur = current.get(name)
        parts.append(f"<h2>{escape(name)} <small>({escape(base['inferred_type'])})</small></h2>")
        if cur is None:
            parts.append("<p class=\"fail\">not in the window</p>")
            continue
        rows = [("present", _stats(base).get("common", {}).get("num_present"), _stats(cur).get("common", {}).get("num_present")),
                ("missing", _stats(base).get("common", {}).get("num_missing"), _stats(cur).get("common", {}).get("num_missing"))]  # fmt: skip
        for key in ("mean", "std_dev", "min", "max"):
            if key in _stats(base):
                rows.append((key, _stats(base).get(key), _stats(cur).get(key, "")))
        if name in drift:
            d = drift[name]
            rows.append((f"drift ({d['method']})", d["distance"], f"threshold {d['threshold']}"))
        parts.append(table_html(rows, ("", "baseline", "window")))
        if "numerical_statistics" in base and "numerical_statistics" in cur:
            parts.append(f'<div class="charts">{_numeric(name, base, cur)}</div>')
        elif "string_statistics" in base:
            parts.append(_categorical(base, cur))
    return render_report(title, extra_html="\n".join(parts))


__all__ = ["render"]
