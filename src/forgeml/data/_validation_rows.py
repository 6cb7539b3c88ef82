"""Row-level results of a validation: failing rows per check, and the quarantine.

Every row-level check (a rule's SQL that is TRUE for a row that complies) is first evaluated in
one scan that counts the rows per pattern of failed checks (:class:`FailurePatterns`): a
``GROUP BY`` over a few booleans. Those counts give each check's failing rows and the rows that
fail any set of them, so a validation that writes no files needs no second scan. Writing the
quarantine or clean file, or a check the scan did not cover (uniqueness, composites), takes the
scan in :func:`row_level` that flags every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forgeml.data._duck import literal, write_parquet


def scoped(where: str | None, sql: str) -> str:
    """A row check under ``where "..."``: rows outside the filter comply."""
    return f"(NOT coalesce(({where}), FALSE) OR coalesce({sql}, FALSE))" if where else sql


@dataclass(frozen=True)
class FailurePatterns:
    """Row counts per pattern of failed checks (and of ``where`` filters met)."""

    checks: list[str]
    wheres: list[str]
    counts: list[tuple[Any, ...]]  # (check 0 failed, ..., where 0 met, ..., rows)

    @classmethod
    def count(cls, con: Any, checks: list[str], wheres: list[str]) -> FailurePatterns:
        """Evaluate ``checks`` and ``wheres`` over ``src`` in one scan."""
        terms = [f"NOT coalesce({sql}, FALSE)" for sql in checks] + [f"coalesce(({w}), FALSE)" for w in wheres]
        names = ", ".join(f"__f{i}" for i in range(len(terms)))
        flagged = ", ".join(f"{t} AS __f{i}" for i, t in enumerate(terms))
        found = con.execute(f"SELECT {names}, count(*) FROM (SELECT {flagged} FROM src) GROUP BY ALL").fetchall()
        return cls(checks, wheres, found)

    def rows(self, where: str | None = None) -> int:
        """Rows in all, or rows meeting ``where``."""
        flag = None if where is None else len(self.checks) + self.wheres.index(where)
        return sum(int(row[-1]) for row in self.counts if flag is None or row[flag])

    def failing(self, sqls: list[str]) -> int:
        """Rows failing at least one of the checks ``sqls``."""
        flags = [self.checks.index(s) for s in sqls]
        return sum(int(row[-1]) for row in self.counts if any(row[f] for f in flags))

    def known(self, sqls: list[str]) -> bool:
        """Whether every check in ``sqls`` was counted here (or holds for every row)."""
        return all(s == "TRUE" or s in self.checks for s in sqls)


def row_level(
    con: Any, checks: list[tuple[str, str, dict[str, Any]]], quarantine: str | None, clean: str | None, patterns: FailurePatterns
) -> int:
    """Count each row-level rule's failing rows; quarantine rows that break a rule that *failed*.

    Rows breaking a rule that still passed (within its ``with threshold``) are counted in that
    rule's ``failed_rows`` but stay with the clean rows: the ruleset accepted them.
    """
    if all(sql == "TRUE" for _, sql, _ in checks):  # the metrics already showed every row complies
        for _, _, entry in checks:
            entry["failed_rows"] = 0
        if clean:
            write_parquet(con, "SELECT * FROM src", clean)
        return 0
    blocking = [i for i, (_, _, entry) in enumerate(checks) if entry["outcome"] == "Failed"]
    if not quarantine and not clean and patterns.known([sql for _, sql, _ in checks]):
        for _, sql, entry in checks:
            entry["failed_rows"] = 0 if sql == "TRUE" else patterns.failing([sql])
        return patterns.failing([checks[i][1] for i in blocking if checks[i][1] != "TRUE"])
    flags = ", ".join(f"coalesce({sql}, FALSE) AS __ok{i}" for i, (_, sql, _) in enumerate(checks))
    labels = ", ".join(f"CASE WHEN NOT __ok{i} THEN {literal(checks[i][0])} END" for i in blocking)
    all_ok = " AND ".join(f"__ok{i}" for i in blocking) or "TRUE"
    flagged = f"(SELECT *, row_number() OVER () - 1 AS _dq_row, {flags} FROM src)"
    counts = con.execute(
        "SELECT " + ", ".join(f"count_if(NOT __ok{i})" for i in range(len(checks))) + f", count_if(NOT ({all_ok})) FROM (SELECT {flags} FROM src)"
    ).fetchall()[0]
    for i, (_, _, entry) in enumerate(checks):
        entry["failed_rows"] = int(counts[i])
    drop = ", ".join(f"__ok{i}" for i in range(len(checks)))
    if quarantine and blocking:
        write_parquet(
            con, f"SELECT * EXCLUDE ({drop}), list_filter([{labels}], lambda x: x IS NOT NULL) AS _dq_failed_rules "
            f"FROM {flagged} WHERE NOT ({all_ok}) ORDER BY _dq_row", quarantine,
        )  # fmt: skip
    if clean:
        write_parquet(con, f"SELECT * EXCLUDE ({drop}, _dq_row) FROM {flagged} WHERE {all_ok} ORDER BY _dq_row", clean)
    return int(counts[-1])


__all__ = ["FailurePatterns", "row_level", "scoped"]
