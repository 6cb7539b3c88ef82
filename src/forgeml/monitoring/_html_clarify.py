"""HTML report sections of the Clarify monitors: bias metrics with their intervals, and
attributions baseline vs window (self-contained: inline CSS and SVG)."""

from __future__ import annotations

from html import escape
from typing import Any

from forgeml.evaluation._html import render_report, table_html
from forgeml.evaluation._svg import bar_chart


def _head(summary: dict[str, Any], violations: list[dict[str, Any]], columns: tuple[str, ...], keys: tuple[str, ...]) -> list[str]:
    parts = [f"<p>Status: <b>{escape(str(summary.get('status')))}</b>. {escape(str(summary.get('message', '')))}</p>"]
    counts = summary.get("counts") or {}
    if counts:
        parts.append(table_html([(k, v) for k, v in sorted(counts.items()) if not isinstance(v, list)], ("read", "count")))
    parts.append(f"<h2>Violations ({len(violations)})</h2>")
    parts.append(table_html([tuple(v[k] for k in keys) for v in violations], columns) if violations else "<p class=\"pass\">none</p>")
    return parts


def _fmt(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else ("" if x is None else str(x))


def render_bias(title: str, *, analysis: dict[str, Any], baseline: dict[str, Any], violations: list[dict[str, Any]],
                summary: dict[str, Any]) -> str:  # fmt: skip
    """Per facet value: each metric's baseline value, window value, interval and allowed range."""
    parts = _head(summary, violations, ("facet", "value", "metric", "description"), ("facet", "facet_value", "metric_name", "description"))
    base = {(f, str(v["value_or_threshold"]), m["name"]): m.get("value")
            for f, vals in (baseline.get("post_training_bias_metrics") or {}).get("facets", {}).items() for v in vals for m in v["metrics"]}  # fmt: skip
    for facet, values in (analysis.get("post_training_bias_metrics") or {}).get("facets", {}).items():
        for v in values:
            parts.append(f"<h2>Facet {escape(facet)} = {escape(str(v['value_or_threshold']))}</h2>")
            rows = []
            for m in v["metrics"]:
                ci, allowed = m.get("confidence_interval"), m.get("allowed_range")
                rows.append((m["name"], _fmt(base.get((facet, str(v["value_or_threshold"]), m["name"]))), _fmt(m.get("value")),
                             f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else m.get("error", ""),
                             f"[{allowed[0]:.4g}, {allowed[1]:.4g}]" if allowed else ""))  # fmt: skip
            parts.append(table_html(rows, ("metric", "baseline", "window", "confidence interval", "allowed range")))
            finite = [(m["name"], float(m["value"])) for m in v["metrics"] if isinstance(m.get("value"), int | float)]
            if finite:
                parts.append(bar_chart([n for n, _ in finite], [x for _, x in finite], title="window value per metric", css_class="bias"))
    return render_report(title, extra_html="\n".join(parts))


def render_attribution(title: str, *, baseline: dict[str, Any], window: dict[str, Any], scores: dict[str, float],
                       violations: list[dict[str, Any]], summary: dict[str, Any]) -> str:  # fmt: skip
    """Per label: NDCG, and the global SHAP value of each feature in baseline and window."""
    parts = _head(summary, violations, ("label", "check", "description"), ("label", "constraint_check_type", "description"))
    base: dict[str, Any] = next(iter(baseline.values()), {})
    cur: dict[str, Any] = next(iter(window.values()), {})
    for label, b in base.items():
        c = (cur.get(label) or {}).get("global_shap_values", {})
        score = scores.get(label)
        parts.append(f"<h2>Label {escape(label)}: NDCG {'' if score is None else f'{score:.4f}'}</h2>")
        order = sorted(b["global_shap_values"], key=lambda f: -b["global_shap_values"][f])
        parts.append(table_html([(f, _fmt(b["global_shap_values"][f]), _fmt(c.get(f))) for f in order], ("feature", "baseline", "window")))
        names = [f"{f} (baseline)" for f in order] + [f"{f} (window)" for f in order]
        values = [float(b["global_shap_values"][f]) for f in order] + [float(c.get(f, float("nan"))) for f in order]
        parts.append(bar_chart(names, values, title="global SHAP: baseline vs window", css_class="attribution"))
    return render_report(title, extra_html="\n".join(parts))


__all__ = ["render_attribution", "render_bias"]
