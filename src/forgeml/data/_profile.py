"""Dataset profiling in DuckDB: per-column statistics, histograms, top values, outliers, correlations.

Three passes of SQL over the source (a Parquet file is streamed, never loaded whole):

1. one aggregate query: row count, and per column count, distinct, min/max/mean/std, quantiles;
2. one aggregate query: histograms, IQR and z-score outlier counts, pairwise Pearson correlations;
3. one ``GROUP BY`` per low-cardinality or non-numeric column for its most frequent values (and the
   label's class balance).

Quantiles are exact (``quantile_cont``) up to ``exact_max_rows`` rows and t-digest approximations
(``approx_quantile``) above, which keeps memory bounded; the report says which it used.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from typing import Any

from forgeml.data._duck import check_columns, kind_of, open_source, quote, schema

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) or math.isinf(f) else f


def _jsonable(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return _num(value)
    if hasattr(value, "item"):
        return _jsonable(value.item())
    if isinstance(value, int | str | bool) or value is None:
        return value
    return str(value)


def profile(
    data: Any,
    *,
    label: str | None = None,
    bins: int = 20,
    top_k: int = 10,
    zscore: float = 3.0,
    iqr_factor: float = 1.5,
    exact_max_rows: int = 1_000_000,
    max_correlation_columns: int = 40,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Profile a pandas frame or a Parquet/CSV file.

    Args:
        data: a DataFrame or a file path.
        label: a column whose class balance to report.
        bins: histogram bins per numeric column.
        top_k: most frequent values kept per column.
        zscore: |x - mean| / std beyond this counts as a z-score outlier.
        iqr_factor: beyond Q1 - f·IQR or Q3 + f·IQR counts as an IQR outlier.
        exact_max_rows: above this many rows, quantiles are approximate (t-digest).
        max_correlation_columns: correlations among at most this many numeric columns.

    Returns:
        A JSON-safe dict: ``rows``, ``columns`` (list of per-column dicts), ``correlations``,
        ``label`` (when asked), ``schema``, ``seconds``.

    Raises:
        ValidationError: ``label`` is not a column, or the data cannot be read.
    """
    started = time.perf_counter()
    with open_source(data, memory_limit=memory_limit, threads=threads) as con:
        cols = schema(con)
        names = [c for c, _ in cols]
        if label is not None:
            check_columns([label], names, "profile label")
        kinds = {c: kind_of(t) for c, t in cols}
        rows = int(con.execute("SELECT count(*) FROM src").fetchall()[0][0])
        exact = rows <= exact_max_rows
        stats = _pass_one(con, cols, kinds, exact)
        numeric = [c for c in names if kinds[c] == "numeric" and stats[c]["count"] > 0]
        corr_cols = numeric[:max_correlation_columns]
        extra = _pass_two(con, numeric, corr_cols, stats, bins, zscore, iqr_factor)
        columns = []
        for name, duck_type in cols:
            col = {"name": name, "type": duck_type, "kind": kinds[name], **stats[name]}
            col["missing"] = rows - col["count"]
            col["missing_fraction"] = col["missing"] / rows if rows else 0.0
            col.update(extra.get(name, {}))
            if kinds[name] != "numeric" or col["distinct"] <= 50:
                col["top_values"] = _top_values(con, name, top_k)
            columns.append(col)
        report: dict[str, Any] = {
            "rows": rows,
            "columns": columns,
            "schema": [{"name": n, "type": t} for n, t in cols],
            "quantiles_method": "exact" if exact else "approximate (t-digest)",
            "correlations": {"method": "pearson", "columns": corr_cols, "matrix": extra.get("__corr__", [])},
        }
        if label is not None:
            report["label"] = _label_balance(con, label, rows)
    report["seconds"] = round(time.perf_counter() - started, 4)
    return report


def _pass_one(con: Any, cols: list[tuple[str, str]], kinds: dict[str, str], exact: bool) -> dict[str, dict[str, Any]]:
    exprs: list[str] = []
    plan: list[tuple[str, str]] = []

    def add(col: str, key: str, sql: str) -> None:
        exprs.append(sql)
        plan.append((col, key))

    qlist = "[" + ", ".join(str(q) for q in QUANTILES) + "]"
    for name, _ in cols:
        q = quote(name)
        add(name, "count", f"count({q})")
        add(name, "distinct", f"count(DISTINCT {q})")
        kind = kinds[name]
        if kind == "numeric":
            for key, fn in (("min", "min"), ("max", "max"), ("mean", "avg"), ("std", "stddev_samp")):
                add(name, key, f"{fn}({q}::DOUBLE)")
            fn = "quantile_cont" if exact else "approx_quantile"
            add(name, "quantiles", f"{fn}({q}::DOUBLE, {qlist})")
            add(name, "zeros", f"count_if({q} = 0)")
        elif kind in ("datetime", "string"):
            add(name, "min", f"min({q})")
            add(name, "max", f"max({q})")
            if kind == "string":
                add(name, "min_length", f"min(length({q}))")
                add(name, "max_length", f"max(length({q}))")
                add(name, "mean_length", f"avg(length({q}))")
                add(name, "empty", f"count_if(trim({q}) = '')")
        elif kind == "boolean":
            add(name, "true", f"count_if({q})")
    values = con.execute("SELECT " + ", ".join(exprs) + " FROM src").fetchall()[0]
    out: dict[str, dict[str, Any]] = {name: {} for name, _ in cols}
    for (col, key), value in zip(plan, values, strict=True):
        if key == "quantiles":
            out[col][key] = {f"p{round(q * 100):02d}": _num(v) for q, v in zip(QUANTILES, value or [None] * len(QUANTILES), strict=True)}
        elif key in ("count", "distinct", "zeros", "empty", "true"):
            out[col][key] = int(value or 0)
        else:
            out[col][key] = _jsonable(value)
    return out


def _pass_two(
    con: Any, numeric: list[str], corr_cols: list[str], stats: dict[str, dict[str, Any]],
    bins: int, zscore: float, iqr_factor: float,
) -> dict[str, Any]:  # fmt: skip
    exprs: list[str] = []
    plan: list[tuple[str, str, Any]] = []
    bounds: dict[str, dict[str, Any]] = {}
    for name in numeric:
        q, s = quote(name), stats[name]
        lo, hi = s["min"], s["max"]
        width = (hi - lo) / bins if hi > lo else 1.0
        edges = [lo + i * width for i in range(bins + 1)] if hi > lo else [lo, lo]
        nb = bins if hi > lo else 1
        exprs.append(f"histogram(least(greatest(floor(({q}::DOUBLE - {lo!r}) / {width!r}), 0), {nb - 1})::INTEGER)")
        plan.append((name, "histogram", (edges, nb)))
        q1, q3 = s["quantiles"]["p25"], s["quantiles"]["p75"]
        iqr_lo, iqr_hi = q1 - iqr_factor * (q3 - q1), q3 + iqr_factor * (q3 - q1)
        exprs.append(f"count_if({q} < {iqr_lo!r} OR {q} > {iqr_hi!r})")
        plan.append((name, "iqr", None))
        std = s["std"] or 0.0
        if std > 0:
            exprs.append(f"count_if(abs({q}::DOUBLE - {s['mean']!r}) > {zscore * std!r})")
        else:
            exprs.append("0")
        plan.append((name, "zscore", None))
        bounds[name] = {"iqr": (iqr_lo, iqr_hi), "z": (s["mean"] - zscore * std, s["mean"] + zscore * std)}
    for i, a in enumerate(corr_cols):
        for b in corr_cols[i + 1 :]:
            exprs.append(f"corr({quote(a)}::DOUBLE, {quote(b)}::DOUBLE)")
            plan.append((a, "corr", b))
    out: dict[str, Any] = {}
    if not exprs:
        return out
    values = con.execute("SELECT " + ", ".join(exprs) + " FROM src").fetchall()[0]
    n = len(corr_cols)
    matrix: list[list[float | None]] = [[1.0 if i == j else None for j in range(n)] for i in range(n)]
    index = {c: i for i, c in enumerate(corr_cols)}
    for (col, key, extra), value in zip(plan, values, strict=True):
        entry = out.setdefault(col, {})
        if key == "histogram":
            edges, nb = extra
            counts = [0] * nb
            for bucket, count in (value or {}).items():
                counts[int(bucket)] = int(count)
            entry["histogram"] = {"edges": [_num(e) for e in edges], "counts": counts}
        elif key == "iqr":
            lo, hi = bounds[col]["iqr"]
            entry.setdefault("outliers", {})["iqr"] = {"count": int(value), "lower": _num(lo), "upper": _num(hi), "factor": iqr_factor}
        elif key == "zscore":
            lo, hi = bounds[col]["z"]
            entry.setdefault("outliers", {})["zscore"] = {"count": int(value), "lower": _num(lo), "upper": _num(hi), "threshold": zscore}
        else:
            r = _num(value)
            matrix[index[col]][index[extra]] = matrix[index[extra]][index[col]] = r
    out["__corr__"] = matrix
    return out


def _top_values(con: Any, name: str, k: int) -> list[dict[str, Any]]:
    q = quote(name)
    rows = con.execute(
        f"SELECT {q} AS v, count(*) AS n FROM src WHERE {q} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(k)}"
    ).fetchall()
    return [{"value": _jsonable(v), "count": int(n)} for v, n in rows]


def _label_balance(con: Any, label: str, rows: int) -> dict[str, Any]:
    q = quote(label)
    found = con.execute(f"SELECT {q}, count(*) FROM src GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    counts = {str(_jsonable(v)): int(n) for v, n in found}
    nonzero = [n for n in counts.values() if n]
    return {
        "column": label,
        "classes": len(counts),
        "counts": counts,
        "fractions": {k: v / rows for k, v in counts.items()} if rows else {},
        "imbalance_ratio": max(nonzero) / min(nonzero) if nonzero else None,
        "minority_class": min(counts, key=lambda k: counts[k]) if counts else None,
    }


__all__ = ["QUANTILES", "profile"]
