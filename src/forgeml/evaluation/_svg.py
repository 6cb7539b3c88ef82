"""Small, dependency-free SVG charts for reports: lines, a heat map and horizontal bars.

The charts are plain inline ``<svg>`` elements, so a report opens offline in any browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H = 420, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 30, 44
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _frame(title: str, xlabel: str, ylabel: str, body: list[str], css_class: str) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle" font-size="12">{escape(xlabel)}</text>',
        f'<text x="14" y="{H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 {H / 2})">{escape(ylabel)}</text>',
        *body,
        "</svg>",
    ]
    return "\n".join(parts)


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
    unit_square: bool = True,
    css_class: str = "line-chart",
) -> str:
    """Lines ``(name, xs, ys)`` on shared axes; ``unit_square`` fixes both axes to [0, 1]."""
    xs_all = [x for _, xs, _ in series for x in xs] or [0.0, 1.0]
    ys_all = [y for _, _, ys in series for y in ys] or [0.0, 1.0]
    x0, x1 = (0.0, 1.0) if unit_square else (min(xs_all), max(xs_all))
    y0, y1 = (0.0, 1.0) if unit_square else (min(ys_all), max(ys_all))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - (y - y0) / (y1 - y0) * ph

    body = [f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for i in range(5):
        tx, ty = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        body.append(f'<text x="{px(tx):.1f}" y="{TOP + ph + 14}" text-anchor="middle" font-size="10">{_fmt(tx)}</text>')
        body.append(f'<text x="{LEFT - 4}" y="{py(ty) + 3:.1f}" text-anchor="end" font-size="10">{_fmt(ty)}</text>')
    if diagonal:
        body.append(f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" y2="{py(y1):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, (name, xs, ys) in enumerate(series):
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=False) if math.isfinite(x) and math.isfinite(y))
        color = COLORS[i % len(COLORS)]
        body.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{pts}"><title>{escape(name)}</title></polyline>')
        body.append(f'<text x="{LEFT + 8}" y="{TOP + 16 + 14 * i}" font-size="11" fill="{color}">{escape(name)}</text>')
    return _frame(title, xlabel, ylabel, body, css_class)


def heatmap(matrix: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], *, title: str,
            xlabel: str = "predicted", ylabel: str = "actual", css_class: str = "heatmap") -> str:  # fmt: skip
    """A labelled matrix of counts, darker for larger values (a confusion matrix)."""
    n_r, n_c = len(rows), len(cols)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    cw, ch = pw / max(n_c, 1), ph / max(n_r, 1)
    top = max((max(r) for r in matrix if len(r)), default=1) or 1
    body = []
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            shade = int(245 - 180 * (v / top))
            fill = f"rgb({shade},{shade},255)"
            x, y = LEFT + j * cw, TOP + i * ch
            ink = "#fff" if v / top > 0.6 else "#000"
            body.append(f'<rect class="cell" x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" fill="{fill}" stroke="#fff"/>')
            body.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 4:.1f}" text-anchor="middle" font-size="12" fill="{ink}">{_fmt(v)}</text>')
    for j, c in enumerate(cols):
        body.append(f'<text x="{LEFT + (j + 0.5) * cw:.1f}" y="{TOP + ph + 14}" text-anchor="middle" font-size="10">{escape(str(c))}</text>')
    for i, r in enumerate(rows):
        body.append(f'<text x="{LEFT - 4}" y="{TOP + (i + 0.5) * ch + 3:.1f}" text-anchor="end" font-size="10">{escape(str(r))}</text>')
    return _frame(title, xlabel, ylabel, body, css_class)


def bar_chart(names: Sequence[str], values: Sequence[float], *, title: str, xlabel: str = "value",
              css_class: str = "bar-chart") -> str:  # fmt: skip
    """Horizontal bars (negative values extend left of zero); non-finite values are skipped."""
    items = [(n, v) for n, v in zip(names, values, strict=True) if math.isfinite(v)]
    height = max(H, TOP + BOTTOM + 18 * len(items))
    lo, hi = min([0.0, *(v for _, v in items)]), max([0.0, *(v for _, v in items)])
    hi = hi if hi > lo else lo + 1
    left = LEFT + 50
    pw = W - left - RIGHT
    bh = (height - TOP - BOTTOM) / max(len(items), 1)

    def px(x: float) -> float:
        return left + (x - lo) / (hi - lo) * pw

    body = [f'<line x1="{px(0):.1f}" y1="{TOP}" x2="{px(0):.1f}" y2="{height - BOTTOM}" stroke="#666"/>']
    for i, (name, v) in enumerate(items):
        y = TOP + i * bh
        x_a, x_b = sorted((px(0), px(v)))
        color = COLORS[0] if v >= 0 else COLORS[1]
        body.append(f'<rect class="bar" x="{x_a:.1f}" y="{y + 2:.1f}" width="{max(x_b - x_a, 0.5):.1f}" height="{max(bh - 4, 1):.1f}" fill="{color}"><title>{escape(name)}: {_fmt(v)}</title></rect>')
        body.append(f'<text x="{left - 4}" y="{y + bh / 2 + 4:.1f}" text-anchor="end" font-size="10">{escape(name)} {_fmt(v)}</text>')
    for i in range(5):
        t = lo + (hi - lo) * i / 4
        body.append(f'<text x="{px(t):.1f}" y="{height - BOTTOM + 14}" text-anchor="middle" font-size="10">{_fmt(t)}</text>')
    svg = _frame(title, xlabel, "", body, css_class)
    return svg.replace(f'height="{H}" viewBox="0 0 {W} {H}"', f'height="{height}" viewBox="0 0 {W} {height}"', 1)


__all__ = ["bar_chart", "heatmap", "line_chart"]
