"""Schema inference, rule suggestions, and schema/data drift between two versions of a dataset."""

from __future__ import annotations

import math
from typing import Any

from forgeml.data._duck import kind_of, open_source, quote, schema
from forgeml.data._profile import profile


def infer_schema(data: Any, *, max_categories: int = 20) -> list[dict[str, Any]]:
    """Columns with type, kind, nullability, uniqueness, range and (few) categories.

    Categories are listed for non-numeric columns with at most ``max_categories`` distinct values.
    """
    return _infer(profile(data, top_k=max_categories), max_categories)


def _infer(report: dict[str, Any], max_categories: int) -> list[dict[str, Any]]:
    out = []
    for c in report["columns"]:
        entry: dict[str, Any] = {
            "name": c["name"], "type": c["type"], "kind": c["kind"],
            "nullable": c["missing"] > 0, "unique": c["distinct"] == c["count"] == report["rows"],
            "completeness": 1.0 - c["missing_fraction"],
        }  # fmt: skip
        if c["kind"] in ("numeric", "datetime"):
            entry["min"], entry["max"] = c.get("min"), c.get("max")
        if c["kind"] in ("string", "boolean") and c["distinct"] <= max_categories:
            entry["categories"] = sorted(str(v["value"]) for v in c.get("top_values", []))
        out.append(entry)
    return out


def suggest_rules(data: Any, *, max_categories: int = 20) -> str:
    """A DQDL ruleset that the data satisfies now (Glue-style recommendations) to edit and keep."""
    report = profile(data, top_k=max_categories)
    lines = [f"RowCount > {max(report['rows'] // 2, 0)}"]
    for col in _infer(report, max_categories):
        name = col["name"].replace('"', '\\"')
        if not col["nullable"]:
            lines.append(f'IsComplete "{name}"')
        if col["unique"]:
            lines.append(f'IsUnique "{name}"')
        # NULLs fail ColumnValues, so a nullable column's range rule tolerates its current gaps
        tolerance = f" with threshold >= {math.floor(col['completeness'] * 1000) / 1000!r}" if col["nullable"] else ""
        if col["kind"] == "numeric" and col.get("min") is not None:
            lines.append(f'ColumnValues "{name}" between {_num(col["min"])} and {_num(col["max"])}{tolerance}')
        if col.get("categories"):
            values = ", ".join('"' + v.replace('"', '\\"') + '"' for v in col["categories"])
            lines.append(f'ColumnValues "{name}" in [{values}{", NULL" if col["nullable"] else ""}]')
    return "Rules = [\n    " + ",\n    ".join(lines) + "\n]"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _stats(con: Any, cols: list[tuple[str, str]], max_categories: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = con.execute("SELECT count(*) FROM src").fetchall()[0][0]
    for name, duck_type in cols:
        q, kind = quote(name), kind_of(duck_type)
        entry: dict[str, Any] = {"kind": kind, "rows": rows}
        if kind == "numeric":
            lo, hi, mean, std, count = con.execute(
                f"SELECT min({q}::DOUBLE), max({q}::DOUBLE), avg({q}::DOUBLE), stddev_samp({q}::DOUBLE), count({q}) FROM src"
            ).fetchall()[0]
            entry.update(min=lo, max=hi, mean=mean, std=std, count=count)
        else:
            count, distinct = con.execute(f"SELECT count({q}), count(DISTINCT {q}) FROM src").fetchall()[0]
            entry.update(count=count, distinct=distinct)
            if kind in ("string", "boolean") and distinct <= max_categories:
                entry["categories"] = sorted(str(r[0]) for r in con.execute(f"SELECT DISTINCT {q} FROM src WHERE {q} IS NOT NULL").fetchall())
        out[name] = entry
    return out


def schema_drift(base: Any, current: Any, *, max_categories: int = 1000, mean_shift_threshold: float = 0.5) -> dict[str, Any]:
    """Compare two versions (frames or files): schema changes, new categories, shifted ranges.

    Args:
        base: the reference version.
        current: the version to check.
        max_categories: compare category sets of string/boolean columns with at most this many values.
        mean_shift_threshold: flag a numeric column whose mean moved by more than this many base
            standard deviations.

    Returns:
        ``added``, ``removed``, ``retyped`` columns; per common column ``new_categories``,
        ``missing_categories``, base/current ranges, ``out_of_range_fraction`` (share of current
        values outside the base range), ``mean_shift_std``, completeness; ``findings`` (one line
        each) and ``drifted``.
    """
    with open_source(base) as bcon, open_source(current) as ccon:
        bcols, ccols = schema(bcon), schema(ccon)
        btypes, ctypes = dict(bcols), dict(ccols)
        added = [{"name": n, "type": t} for n, t in ccols if n not in btypes]
        removed = [{"name": n, "type": t} for n, t in bcols if n not in ctypes]
        retyped = [{"name": n, "from": btypes[n], "to": t} for n, t in ccols if n in btypes and btypes[n] != t]
        common = [(n, t) for n, t in ccols if n in btypes]
        bstats = _stats(bcon, [(n, btypes[n]) for n, _ in common], max_categories)
        cstats = _stats(ccon, common, max_categories)
        columns: dict[str, Any] = {}
        findings = [f"column {a['name']!r} added ({a['type']})" for a in added]
        findings += [f"column {r['name']!r} removed" for r in removed]
        findings += [f"column {r['name']!r} retyped {r['from']} -> {r['to']}" for r in retyped]
        for name, _ in common:
            b, c = bstats[name], cstats[name]
            entry: dict[str, Any] = {
                "completeness": [_ratio(b["count"], b["rows"]), _ratio(c["count"], c["rows"])],
            }
            if "categories" in b and "categories" in c:
                new = sorted(set(c["categories"]) - set(b["categories"]))
                gone = sorted(set(b["categories"]) - set(c["categories"]))
                entry.update(new_categories=new, missing_categories=gone)
                if new:
                    findings.append(f"column {name!r}: {len(new)} new categor{'y' if len(new) == 1 else 'ies'} {new[:5]}")
            if b["kind"] == c["kind"] == "numeric" and b["min"] is not None and c["min"] is not None:
                q = quote(name)
                outside = ccon.execute(
                    f"SELECT count_if({q} < {b['min']!r} OR {q} > {b['max']!r}) FROM src"
                ).fetchall()[0][0]
                shift = (c["mean"] - b["mean"]) / b["std"] if b["std"] else (0.0 if c["mean"] == b["mean"] else math.inf)
                entry.update(
                    base_range=[b["min"], b["max"]], current_range=[c["min"], c["max"]],
                    out_of_range_fraction=_ratio(outside, c["count"]), mean_shift_std=None if math.isinf(shift) else shift,
                )  # fmt: skip
                if outside:
                    findings.append(f"column {name!r}: {outside} value(s) outside the base range [{b['min']:g}, {b['max']:g}]")
                if math.isinf(shift) or abs(shift) > mean_shift_threshold:
                    findings.append(f"column {name!r}: mean moved {c['mean'] - b['mean']:+.4g} ({'∞' if math.isinf(shift) else f'{shift:+.2f}'} std)")
            columns[name] = entry
    return {
        "added": added, "removed": removed, "retyped": retyped, "columns": columns,
        "findings": findings, "drifted": bool(findings),
    }  # fmt: skip


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


__all__ = ["infer_schema", "schema_drift", "suggest_rules"]
