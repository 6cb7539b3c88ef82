"""The difference between two dataset versions: schema changes and row changes (DuckDB).

Without a key, rows are compared as a multiset over the shared columns (``EXCEPT ALL``: a row
duplicated three times in one version and twice in the other counts once). With a key, rows are
matched by key and reported as added, removed or changed (any shared column ``IS DISTINCT FROM``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

SAMPLE = 5


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _schema_changes(a: pa.Schema, b: pa.Schema) -> dict[str, Any]:
    types_a = {f.name: str(f.type) for f in a}
    types_b = {f.name: str(f.type) for f in b}
    return {
        "added": [c for c in types_b if c not in types_a],
        "removed": [c for c in types_a if c not in types_b],
        "type_changed": [
            {"column": c, "from": types_a[c], "to": types_b[c]}
            for c in types_a if c in types_b and types_a[c] != types_b[c]
        ],
    }  # fmt: skip


def _cols(names: list[str], changed: set[str]) -> str:
    """Select list over shared columns; a column whose type changed is compared as text."""
    return ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" if c in changed else _q(c) for c in names)


def diff_tables(a: pa.Table, b: pa.Table, *, key: list[str] | None = None) -> dict[str, Any]:
    """Compare ``b`` against ``a``.

    Raises:
        ValidationError: a key column is missing from either version or is not unique.
    """
    import duckdb

    schema = _schema_changes(a.schema, b.schema)
    shared = [c for c in b.column_names if c in set(a.column_names)]
    changed_types = {t["column"] for t in schema["type_changed"]}
    out: dict[str, Any] = {"schema": schema, "rows": {"a": a.num_rows, "b": b.num_rows}}
    con = duckdb.connect()
    try:
        con.register("ta", a)
        con.register("tb", b)
        sel = _cols(shared, changed_types)
        if not key:
            only_a = con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM ta EXCEPT ALL SELECT {sel} FROM tb)").fetchone()
            only_b = con.execute(f"SELECT count(*) FROM (SELECT {sel} FROM tb EXCEPT ALL SELECT {sel} FROM ta)").fetchone()
            assert only_a is not None and only_b is not None
            out["rows"].update({"only_in_a": only_a[0], "only_in_b": only_b[0], "in_both": a.num_rows - only_a[0]})
            return out
        for k in key:
            if k not in shared:
                raise ValidationError(f"key column {k!r} is not in both versions")
        keys = ", ".join(_q(k) for k in key)
        for label, tbl in (("a", "ta"), ("b", "tb")):
            dup = con.execute(f"SELECT count(*) FROM (SELECT {keys} FROM {tbl} GROUP BY ALL HAVING count(*) > 1)").fetchone()
            if dup and dup[0]:
                raise ValidationError(f"key ({', '.join(key)}) is not unique in version {label}: {dup[0]} repeated key(s)")
        on = " AND ".join(f"x.{_q(k)} IS NOT DISTINCT FROM y.{_q(k)}" for k in key)
        others = [c for c in shared if c not in key]
        differs = " OR ".join(
            f"CAST(x.{_q(c)} AS VARCHAR) IS DISTINCT FROM CAST(y.{_q(c)} AS VARCHAR)" if c in changed_types
            else f"x.{_q(c)} IS DISTINCT FROM y.{_q(c)}" for c in others
        ) or "FALSE"  # fmt: skip
        key_x = ", ".join(f"x.{_q(k)}" for k in key)

        def keys_where(sql: str) -> tuple[int, list[Any]]:
            rows = con.execute(sql).fetchall()
            return len(rows), [r[0] if len(key) == 1 else list(r) for r in rows[:SAMPLE]]

        added = keys_where(f"SELECT {key_x} FROM tb x WHERE NOT EXISTS (SELECT 1 FROM ta y WHERE {on}) ORDER BY ALL")
        removed = keys_where(f"SELECT {key_x} FROM ta x WHERE NOT EXISTS (SELECT 1 FROM tb y WHERE {on}) ORDER BY ALL")
        changed = keys_where(f"SELECT {key_x} FROM tb x JOIN ta y ON {on} WHERE {differs} ORDER BY ALL")
        out["key"] = key
        out["rows"].update({"added": added[0], "removed": removed[0], "changed": changed[0]})
        out["sample"] = {"added": added[1], "removed": removed[1], "changed": changed[1]}
        return out
    finally:
        con.close()


__all__ = ["diff_tables"]
