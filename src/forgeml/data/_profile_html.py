"""A self-contained HTML page for a profile: tables plus inline SVG plots (opens offline)."""

from __future__ import annotations

import html
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2933;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d9e2ec}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eef2f6;text-align:right}
th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}
.col{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap;margin:12px 0 20px}
.muted{color:#7b8794;font-size:12px}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _bars_svg(labels: list[str], counts: list[int], width: int = 360, height: int = 150, color: str = "#3e7cb1") -> str:
    if not counts:
        return ""
    top = max(counts) or 1
    n = len(counts)
    bar_w = (width - 20) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img">']
    for i, (label, count) in enumerate(zip(labels, counts, strict=True)):
        h = (height - 10) * count / top
        x = 10 + i * bar_w
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{html.escape(label)}: {count}</title></rect>"
        )
    parts.append(f'<text x="10" y="{height + 14}" font-size="10" fill="#52606d">{html.escape(labels[0])}</text>')
    parts.append(f'<text x="{width - 10}" y="{height + 14}" font-size="10" fill="#52606d" text-anchor="end">{html.escape(labels[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hbars_svg(items: list[dict[str, Any]], width: int = 360) -> str:
    if not items:
        return ""
    top = max(i["count"] for i in items) or 1
    row = 18
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(items) + 4}" role="img">']
    for k, item in enumerate(items):
        w = (width - 170) * item["count"] / top
        label = html.escape(str(item["value"])[:22])
        parts.append(f'<text x="0" y="{k * row + 13}" font-size="11">{label}</text>')
        parts.append(f'<rect x="130" y="{k * row + 3}" width="{w:.1f}" height="{row - 5}" fill="#6aa84f"/>')
        parts.append(f'<text x="{134 + w:.1f}" y="{k * row + 13}" font-size="10" fill="#52606d">{item["count"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heatmap_svg(columns: list[str], matrix: list[list[float | None]]) -> str:
    n = len(columns)
    if n < 2:
        return ""
    cell, pad = 22, 120
    size = pad + cell * n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" role="img">']
    for i, name in enumerate(columns):
        label = html.escape(name[:16])
        parts.append(f'<text x="{pad - 4}" y="{pad + i * cell + 15}" font-size="10" text-anchor="end">{label}</text>')
        parts.append(
            f'<text x="{pad + i * cell + 14}" y="{pad - 4}" font-size="10" transform="rotate(-60 {pad + i * cell + 14} {pad - 4})">{label}</text>'
        )
        for j in range(n):
            r = matrix[i][j]
            if r is None:
                fill = "#eeeeee"
            else:
                a = min(abs(r), 1.0)
                fill = f"rgba(200,40,40,{a:.2f})" if r > 0 else f"rgba(40,80,200,{a:.2f})"
            parts.append(
                f'<rect x="{pad + j * cell}" y="{pad + i * cell}" width="{cell - 1}" height="{cell - 1}" fill="{fill}">'
                f"<title>{html.escape(columns[i])} x {html.escape(columns[j])}: {_fmt(r)}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any], title: str = "Data profile") -> str:
    """The profile as one HTML page with no external resources."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    out.append(f"<h1>{html.escape(title)}</h1>")
    out.append(
        f"<p>{report['rows']:,} rows x {len(report['columns'])} columns · quantiles {html.escape(report['quantiles_method'])}"
        f" · profiled in {report.get('seconds', 0)} s</p>"
    )
    out.append("<h2>Overview</h2><table><tr><th>column</th><th>type</th><th>missing</th><th>distinct</th><th>min</th><th>max</th><th>mean</th><th>std</th><th>IQR outliers</th><th>z outliers</th></tr>")
    for c in report["columns"]:
        o = c.get("outliers", {})
        out.append(
            f"<tr><td>{html.escape(c['name'])}</td><td>{html.escape(c['type'])}</td><td>{c['missing']} ({c['missing_fraction']:.1%})</td>"
            f"<td>{c['distinct']}</td><td>{_fmt(c.get('min'))}</td><td>{_fmt(c.get('max'))}</td><td>{_fmt(c.get('mean'))}</td>"
            f"<td>{_fmt(c.get('std'))}</td><td>{_fmt(o.get('iqr', {}).get('count'))}</td><td>{_fmt(o.get('zscore', {}).get('count'))}</td></tr>"
        )
    out.append("</table>")
    if report.get("label"):
        lab = report["label"]
        items = [{"value": k, "count": v} for k, v in lab["counts"].items()]
        out.append(f"<h2>Label balance: {html.escape(lab['column'])}</h2><div class='col'>{_hbars_svg(items)}")
        out.append(f"<p>imbalance ratio {_fmt(lab['imbalance_ratio'])}; minority class {html.escape(str(lab['minority_class']))}</p></div>")
    corr = report.get("correlations", {})
    if len(corr.get("columns", [])) > 1:
        out.append("<h2>Correlations (Pearson)</h2><p class='muted'>red positive, blue negative; hover for values</p>")
        out.append(_heatmap_svg(corr["columns"], corr["matrix"]))
    out.append("<h2>Columns</h2>")
    for c in report["columns"]:
        out.append(f"<h3>{html.escape(c['name'])} <span class='muted'>{html.escape(c['type'])} · {c['kind']}</span></h3><div class='col'>")
        hist = c.get("histogram")
        if hist:
            edges = hist["edges"]
            labels = [f"{_fmt(edges[i])}-{_fmt(edges[i + 1])}" for i in range(len(hist["counts"]))]
            out.append(_bars_svg(labels, hist["counts"]))
        if c.get("top_values"):
            out.append(_hbars_svg(c["top_values"]))
        if c.get("quantiles"):
            rows = "".join(f"<tr><td>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in c["quantiles"].items())
            out.append(f"<table><tr><th>quantile</th><th>value</th></tr>{rows}</table>")
        out.append("</div>")
    out.append("</body></html>")
    return "".join(out)


__all__ = ["render_html"]
