"""Evaluate DQDL rules in DuckDB: a report with each rule's metrics and verdict, and row-level results.

Semantics follow Glue Data Quality (DQDL) and Deequ, which Glue builds on:

* ``ColumnValues``/``ColumnLength``/``DataFreshness``/``ColumnDataType`` are row-level: the rule's
  metric is the fraction of rows that comply; it passes when every row complies, or when that
  fraction satisfies ``with threshold ...``. NULL rows fail, except for ``!=`` and ``not in``.
* ``Completeness`` = non-null / rows; ``Uniqueness`` = values occurring exactly once / non-null rows;
  ``UniqueValueRatio`` = values occurring once / distinct values; ``IsPrimaryKey`` = complete and unique.
* ``StandardDeviation`` is the population standard deviation (Deequ); ``Entropy`` uses natural logs.
* ``between a and b`` includes both bounds.
* ``CustomSQL`` reads the data as the table ``primary`` and must return one value.

A ruleset holding SQL a user wrote (a ``CustomSQL`` rule or a ``where`` filter) is evaluated on a
:class:`~forgeml.core.sql_sandbox.Sandbox`: the data is all it can see (no file, network or
extension access), the SQL must be one SELECT (a ``where`` one condition), and every statement
runs under the time limit. Other rulesets are SQL ForgeML builds from quoted names and literals;
they run on a plain connection that streams the Parquet file (about twice as fast: see
``benchmarks/data/bench_sql_sandbox.py``).

Rows breaking a row-level rule that failed can be written to a quarantine file (with the rules
they broke in ``_dq_failed_rules`` and their position in ``_dq_row``) and the rest to a clean file;
nothing is dropped silently. Rows breaking a rule that passed within its ``with threshold`` are
counted in that rule's ``failed_rows`` but kept: the ruleset accepted them.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from forgeml.core.sql_sandbox import SqlLimits, check_condition
from forgeml.data._duck import (
    check_columns,
    kind_of,
    literal,
    open_source,
    quote,
    schema,
    write_parquet,
)
from forgeml.data._rules import Age, Composite, Condition, Keyword, Rule, load_rules
from forgeml.data._validation_rows import FailurePatterns, row_level, scoped
from forgeml.errors import ValidationError

DQDL_TYPES = {
    "BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP", "INTEGER": "INTEGER", "INT": "INTEGER",
    "LONG": "BIGINT", "BIGINT": "BIGINT", "SHORT": "SMALLINT", "FLOAT": "FLOAT", "DOUBLE": "DOUBLE",
    "DECIMAL": "DOUBLE", "STRING": "VARCHAR",
}  # fmt: skip


@dataclass
class Outcome:
    """The evaluation of one rule."""

    passed: bool
    metrics: dict[str, float | None] = field(default_factory=dict)
    message: str | None = None
    row_sql: str | None = None  # SQL that is TRUE for a row that complies


class _Evaluator:
    def __init__(self, con: Any, columns: list[tuple[str, str]], now: _dt.datetime) -> None:
        self.con = con
        self.types = dict(columns)
        self.names = [c for c, _ in columns]
        self.now = now
        self.cache: dict[tuple[str | None, str], float | None] = {}
        self.collecting: list[tuple[str | None, str]] | None = None
        self.patterns = FailurePatterns([], [], [])

    # ---- helpers -------------------------------------------------------------------------
    def scalar(self, sql: str) -> Any:
        return self.con.execute(sql).fetchall()[0][0]

    def table(self, rule: Rule) -> str:
        return f"(SELECT * FROM src WHERE ({rule.where})) AS t" if rule.where else "src"

    def value_sql(self, v: Any) -> str:
        if isinstance(v, Age) and v.from_now:
            return f"TIMESTAMP {literal((self.now - _dt.timedelta(hours=v.hours)).strftime('%Y-%m-%d %H:%M:%S.%f'))}"
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, Age):
            return repr(v.hours)
        return literal(v)

    def predicate(self, expr: str, cond: Condition) -> str:
        """SQL that is TRUE when ``expr`` satisfies ``cond`` (DQDL NULL semantics)."""
        op, vals = cond.op, cond.values
        if op in ("=", "!=") and isinstance(vals[0], Keyword):
            base = _keyword_sql(expr, vals[0])
            return base if op == "=" else f"NOT coalesce({base}, FALSE)"
        if op in ("=", "<", "<=", ">", ">="):
            return f"({expr} {op} {self.value_sql(vals[0])})"
        if op == "!=":
            return f"({expr} IS NULL OR {expr} != {self.value_sql(vals[0])})"
        if op in ("between", "not between"):
            inside = f"({expr} BETWEEN {self.value_sql(vals[0])} AND {self.value_sql(vals[1])})"
            return inside if op == "between" else f"({expr} IS NULL OR NOT {inside})"
        if op in ("in", "not in"):
            plain = [v for v in vals if not isinstance(v, Keyword)]
            parts = [f"{expr} IN ({', '.join(self.value_sql(v) for v in plain)})"] if plain else []
            parts += [_keyword_sql(expr, v) for v in vals if isinstance(v, Keyword)]
            anyof = "(" + " OR ".join(parts or ["FALSE"]) + ")"
            if op == "in":
                return anyof
            allows_null = not any(isinstance(v, Keyword) and v.name == "NULL" for v in vals)
            return f"({expr} IS NULL OR NOT coalesce({anyof}, FALSE))" if allows_null else f"NOT coalesce({anyof}, FALSE)"
        pattern = literal(vals[0])
        match = f"regexp_full_match(CAST({expr} AS VARCHAR), {pattern})"
        return match if op == "matches" else f"({expr} IS NULL OR NOT {match})"

    def compliance(self, rule: Rule, pred: str) -> float | None:
        key = (rule.where, pred)
        if self.collecting is not None:
            self.collecting.append(key)
            return None
        if key not in self.cache:
            self.cache[key] = _num(self.scalar(f"SELECT avg(CASE WHEN coalesce({pred}, FALSE) THEN 1.0 ELSE 0.0 END) FROM {self.table(rule)}"))
        return self.cache[key]

    def prefetch(self, rules: list[Rule | Composite]) -> None:
        """Evaluate every row-level check in one scan that counts the rows per pattern of failed checks.

        The checks are the row-level rules' predicates and the completeness rules' NULL tests. The
        pattern counts give each row-level rule's compliance, every check's failing rows and the
        rows failing any set of checks (the quarantine count): :func:`row_level` need not scan again.
        """
        self.collecting = []
        flat = _flatten(rules)
        for rule in flat:
            if rule.type in ROW_LEVEL:
                self.evaluate(rule)
        wanted, self.collecting = list(dict.fromkeys(self.collecting)), None
        complete = [scoped(r.where, f"({quote(r.columns[0])} IS NOT NULL)") for r in flat if r.type in ("Completeness", "IsComplete")]
        checks = list(dict.fromkeys([scoped(w, p) for w, p in wanted] + complete))
        if not checks:
            return
        wheres = list(dict.fromkeys(w for w, _ in wanted if w))
        self.patterns = FailurePatterns.count(self.con, checks, wheres)
        for where, pred in wanted:
            base = self.patterns.rows(where)
            self.cache[(where, pred)] = (base - self.patterns.failing([scoped(where, pred)])) / base if base else None

    # ---- rules -----------------------------------------------------------------------------
    def evaluate(self, rule: Rule | Composite) -> Outcome:
        if isinstance(rule, Composite):
            parts = [self.evaluate(r) for r in rule.rules]
            passed = all(p.passed for p in parts) if rule.op == "and" else any(p.passed for p in parts)
            metrics: dict[str, float | None] = {}
            for p in parts:
                metrics.update(p.metrics)
            row = None
            if all(p.row_sql for p in parts):
                row = "(" + f" {rule.op.upper()} ".join(f"coalesce({p.row_sql}, FALSE)" for p in parts) + ")"
            messages = "; ".join(p.message for p in parts if p.message and not p.passed)
            return Outcome(passed, metrics, None if passed else messages or "composite rule failed", row)
        handler = getattr(self, f"rule_{rule.type}")
        out: Outcome = handler(rule)
        if out.row_sql:
            out.row_sql = scoped(rule.where, out.row_sql)
        return out

    def _metric_rule(self, rule: Rule, key: str, value: float | None) -> Outcome:
        ok = value is not None and _check(rule.condition, value) if rule.condition else False
        msg = None if ok else f"Value: {_fmt(value)} does not meet the constraint requirement {rule.condition.text() if rule.condition else ''}".rstrip()
        return Outcome(ok, {key: value}, msg)

    def _row_rule(self, rule: Rule, key: str, pred: str) -> Outcome:
        frac = self.compliance(rule, pred)
        if rule.threshold is not None:
            ok = frac is not None and _check(rule.threshold, frac)
        else:
            ok = frac is not None and frac >= 1.0
        msg = None if ok else f"{(frac or 0) * 100:.2f} % of rows passed the threshold"
        return Outcome(ok, {key: frac}, msg, "TRUE" if frac == 1.0 else pred)  # every row complies: skip rescanning

    def rule_RowCount(self, rule: Rule) -> Outcome:
        return self._metric_rule(rule, "Dataset.*.RowCount", float(self.scalar(f"SELECT count(*) FROM {self.table(rule)}")))

    def rule_ColumnCount(self, rule: Rule) -> Outcome:
        return self._metric_rule(rule, "Dataset.*.ColumnCount", float(len(self.names)))

    def rule_ColumnExists(self, rule: Rule) -> Outcome:
        ok = rule.columns[0] in self.names
        return Outcome(ok, {}, None if ok else f"column {rule.columns[0]!r} does not exist")

    def rule_ColumnNamesMatchPattern(self, rule: Rule) -> Outcome:
        bad = [c for c in self.names if not re.fullmatch(rule.columns[0], c)]
        ok = not bad
        return Outcome(ok, {"Dataset.*.ColumnNamesPatternMatchRatio": 1 - len(bad) / max(len(self.names), 1)},
                       None if ok else f"column(s) not matching: {', '.join(bad)}")  # fmt: skip

    def rule_Completeness(self, rule: Rule) -> Outcome:
        c = rule.columns[0]
        value = _num(self.scalar(f"SELECT count({quote(c)}) / count(*) FROM {self.table(rule)}"))
        out = self._metric_rule(rule, f"Column.{c}.Completeness", value)
        out.row_sql = "TRUE" if value == 1.0 else f"({quote(c)} IS NOT NULL)"
        return out

    def rule_IsComplete(self, rule: Rule) -> Outcome:
        return self.rule_Completeness(Rule("Completeness", rule.columns, Condition("=", (1.0,)), where=rule.where))

    def _uniqueness(self, rule: Rule) -> tuple[float | None, float | None]:
        cols = ", ".join(quote(c) for c in rule.columns)
        nonnull = " OR ".join(f"{quote(c)} IS NOT NULL" for c in rule.columns)
        unique, total, distinct = self.con.execute(
            f"SELECT sum(CASE WHEN n = 1 THEN 1 ELSE 0 END), sum(n), count(*) FROM "
            f"(SELECT count(*) AS n FROM {self.table(rule)} WHERE {nonnull} GROUP BY {cols})"
        ).fetchall()[0]
        if not total:
            return None, None
        return float(unique) / float(total), float(unique) / float(distinct)

    def _unique_row_sql(self, rule: Rule) -> str:
        if len(rule.columns) == 1:  # a hash semi-join, cheaper than a window over every row
            c = quote(rule.columns[0])
            return f"({c} IS NULL OR {c} NOT IN (SELECT {c} FROM src WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1))"
        cols = ", ".join(quote(c) for c in rule.columns)
        return f"(count(*) OVER (PARTITION BY {cols}) = 1)"

    def rule_Uniqueness(self, rule: Rule) -> Outcome:
        value, _ = self._uniqueness(rule)
        out = self._metric_rule(rule, f"Column.{'.'.join(rule.columns)}.Uniqueness", value)
        out.row_sql = "TRUE" if value == 1.0 else self._unique_row_sql(rule)
        return out

    def rule_IsUnique(self, rule: Rule) -> Outcome:
        return self.rule_Uniqueness(Rule("Uniqueness", rule.columns, Condition("=", (1.0,)), where=rule.where))

    def rule_IsPrimaryKey(self, rule: Rule) -> Outcome:
        uniq = self.rule_IsUnique(rule)
        complete = [self.rule_IsComplete(Rule("IsComplete", (c,), where=rule.where)) for c in rule.columns]
        metrics = dict(uniq.metrics)
        for part in complete:
            metrics.update(part.metrics)
        ok = uniq.passed and all(p.passed for p in complete)
        nonnull = " AND ".join(f"{quote(c)} IS NOT NULL" for c in rule.columns)
        msg = None if ok else "values are not all present and unique"
        return Outcome(ok, metrics, msg, "TRUE" if ok else f"({nonnull} AND {self._unique_row_sql(rule)})")

    def rule_UniqueValueRatio(self, rule: Rule) -> Outcome:
        _, ratio = self._uniqueness(rule)
        return self._metric_rule(rule, f"Column.{rule.columns[0]}.UniqueValueRatio", ratio)

    def _aggregate(self, rule: Rule, key: str, sql: str) -> Outcome:
        c = rule.columns[0]
        value = _num(self.scalar(f"SELECT {sql.format(c=quote(c))} FROM {self.table(rule)}"))
        return self._metric_rule(rule, f"Column.{c}.{key}", value)

    def rule_DistinctValuesCount(self, rule: Rule) -> Outcome:
        return self._aggregate(rule, "DistinctValuesCount", "count(DISTINCT {c})")

    def rule_Mean(self, rule: Rule) -> Outcome:
        return self._aggregate(rule, "Mean", "avg({c}::DOUBLE)")

    def rule_StandardDeviation(self, rule: Rule) -> Outcome:
        return self._aggregate(rule, "StandardDeviation", "stddev_pop({c}::DOUBLE)")

    def rule_Sum(self, rule: Rule) -> Outcome:
        return self._aggregate(rule, "Sum", "sum({c}::DOUBLE)")

    def rule_Entropy(self, rule: Rule) -> Outcome:
        c = quote(rule.columns[0])
        value = _num(self.scalar(
            f"SELECT -sum(p * ln(p)) FROM (SELECT count(*) / sum(count(*)) OVER () AS p FROM {self.table(rule)} WHERE {c} IS NOT NULL GROUP BY {c})"
        ))  # fmt: skip
        return self._metric_rule(rule, f"Column.{rule.columns[0]}.Entropy", value)

    def rule_ColumnCorrelation(self, rule: Rule) -> Outcome:
        a, b = rule.columns
        value = _num(self.scalar(f"SELECT corr({quote(a)}::DOUBLE, {quote(b)}::DOUBLE) FROM {self.table(rule)}"))
        return self._metric_rule(rule, f"Multicolumn.{a}.{b}.ColumnCorrelation", value)

    def rule_ColumnValues(self, rule: Rule) -> Outcome:
        c = rule.columns[0]
        assert rule.condition is not None
        return self._row_rule(rule, f"Column.{c}.ColumnValues.Compliance", self.predicate(quote(c), rule.condition))

    def rule_ColumnLength(self, rule: Rule) -> Outcome:
        c = rule.columns[0]
        assert rule.condition is not None
        return self._row_rule(rule, f"Column.{c}.ColumnLength.Compliance", self.predicate(f"length(CAST({quote(c)} AS VARCHAR))", rule.condition))

    def rule_DataFreshness(self, rule: Rule) -> Outcome:
        c = rule.columns[0]
        assert rule.condition is not None
        now = literal(self.now.strftime("%Y-%m-%d %H:%M:%S.%f"))
        age = f"(epoch(TIMESTAMP {now}) - epoch(CAST({quote(c)} AS TIMESTAMP))) / 3600.0"
        return self._row_rule(rule, f"Column.{c}.DataFreshness.Compliance", self.predicate(age, rule.condition))

    def rule_ColumnDataType(self, rule: Rule) -> Outcome:
        c = rule.columns[0]
        assert rule.condition is not None
        wanted = [str(v).upper() for v in rule.condition.values]
        unknown = [w for w in wanted if w not in DQDL_TYPES]
        if unknown:
            raise ValidationError(f"ColumnDataType: unknown type(s) {', '.join(unknown)} (known: {', '.join(sorted(DQDL_TYPES))})")
        declared = self.types[c].upper()
        targets = [DQDL_TYPES[w] for w in wanted]
        if kind_of(declared) == "string":
            casts = " OR ".join(f"try_cast({quote(c)} AS {t}) IS NOT NULL" for t in targets)
            pred = f"({quote(c)} IS NULL OR {casts})"
        else:
            pred = "TRUE" if any(declared.startswith(t) for t in targets) else "FALSE"
        if rule.condition.op in ("!=", "not in"):
            pred = f"NOT ({pred})"
        return self._row_rule(rule, f"Column.{c}.ColumnDataType.Compliance", pred)

    def rule_CustomSQL(self, rule: Rule) -> Outcome:
        result = self.con.rows(_primary_as_src(rule.columns[0]), what="CustomSQL")  # a Sandbox: see validate()
        if len(result) != 1 or len(result[0]) != 1:
            raise ValidationError("CustomSQL must return exactly one value (one row, one column)")
        return self._metric_rule(rule, "Dataset.*.CustomSQL", _num(result[0][0]))


def _primary_as_src(sql: str) -> str:
    """The SQL with the keyword ``primary`` (DQDL's name of the data) read as the view ``src``.

    DuckDB's tokenizer finds it, so the word inside a string, a comment or a quoted name stays.
    """
    import duckdb

    starts = [pos for pos, kind in duckdb.tokenize(sql) if kind == duckdb.token_type.keyword]
    out, last = [], 0
    for pos in starts:
        if sql[pos : pos + 7].lower() == "primary" and not sql[pos + 7 : pos + 8].isalnum() and sql[pos + 7 : pos + 8] != "_":
            out += [sql[last:pos], "src"]
            last = pos + 7
    return "".join([*out, sql[last:]])


def _user_sql(rules: list[Rule]) -> bool:
    """Whether any rule carries SQL its author wrote (CustomSQL, a ``where`` filter)."""
    return any(r.type == "CustomSQL" or r.where for r in rules)


def _keyword_sql(expr: str, kw: Keyword) -> str:
    if kw.name == "NULL":
        return f"({expr} IS NULL)"
    if kw.name == "EMPTY":
        return f"(CAST({expr} AS VARCHAR) = '')"
    return f"(length(CAST({expr} AS VARCHAR)) > 0 AND trim(CAST({expr} AS VARCHAR)) = '')"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f


def _fmt(value: float | None) -> str:
    return "NULL" if value is None else f"{value:g}"


def _check(cond: Condition, value: float) -> bool:
    def v(x: Any) -> float:
        if isinstance(x, Age):
            return x.hours
        if isinstance(x, (Keyword, str)):
            raise ValidationError(f"cannot compare a metric with {x!r}")
        return float(x)

    op, vals = cond.op, cond.values
    if op == "between":
        return v(vals[0]) <= value <= v(vals[1])
    if op == "not between":
        return not v(vals[0]) <= value <= v(vals[1])
    if op == "in":
        return any(math.isclose(value, v(x)) for x in vals)
    if op == "not in":
        return not any(math.isclose(value, v(x)) for x in vals)
    target = v(vals[0])
    return {
        "=": math.isclose(value, target, rel_tol=1e-12, abs_tol=1e-12), "!=": not math.isclose(value, target),
        "<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target,
    }[op]  # fmt: skip


ROW_LEVEL = ("ColumnValues", "ColumnLength", "DataFreshness", "ColumnDataType")


def _flatten(rules: list[Rule | Composite] | tuple[Rule | Composite, ...]) -> list[Rule]:
    out: list[Rule] = []
    for rule in rules:
        out.extend(_flatten(rule.rules) if isinstance(rule, Composite) else [rule])
    return out


def _referenced(rule: Rule | Composite) -> list[str]:
    if isinstance(rule, Composite):
        return [c for r in rule.rules for c in _referenced(r)]
    if rule.type in ("ColumnExists", "CustomSQL", "ColumnNamesMatchPattern"):
        return []
    return list(rule.columns)


def validate(
    data: Any,
    rules: Any,
    *,
    now: _dt.datetime | None = None,
    quarantine_path: str | None = None,
    clean_path: str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    limits: SqlLimits | None = None,
) -> dict[str, Any]:
    """Evaluate rules over a frame or Parquet/CSV file.

    Args:
        data: a DataFrame or file path.
        rules: DQDL text, YAML text, or a list of DQDL strings / mappings / rule objects.
        now: the reference time for DataFreshness and ``now()`` (default: current UTC time, naive).
        quarantine_path: write rows breaking a failed row-level rule here (Parquet) with ``_dq_failed_rules``.
        clean_path: write the other rows here (Parquet).
        limits: time, row and memory limits for rulesets with SQL of their author's
            (default :class:`~forgeml.core.sql_sandbox.SqlLimits`; the services pass the settings').

    Returns:
        ``{"passed", "rows", "rules": [{"rule", "outcome", "metrics", "message", "failed_rows"}], ...}``.

    Raises:
        ValidationError: malformed rules, rules naming columns the data lacks, SQL that is not one
            SELECT (or one condition), fails, or runs past the time limit.
        ForbiddenError: SQL that reaches for files, the network or extensions.
    """
    started = time.perf_counter()
    parsed = load_rules(rules)
    now = now or _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    flat = _flatten(parsed)
    for simple in flat:
        if simple.where:
            check_condition(simple.where, f"rule {simple.text()}: where")
    sandbox = (limits or SqlLimits()) if _user_sql(flat) else None
    # GROUP BY a key whose range (from the file's statistics) spans up to 2^24 values, such as
    # IsUnique on an integer id, uses DuckDB's perfect hash table: ~3x less CPU on 10M ids.
    options = {"perfect_ht_threshold": 24}
    with open_source(data, memory_limit=memory_limit, threads=threads, options=options, sandbox=sandbox) as con:
        cols = schema(con)
        names = [c for c, _ in cols]
        for i, rule in enumerate(parsed):
            check_columns(_referenced(rule), names, f"rule {i + 1} ({rule.text()})")
        for simple in flat:  # a where naming no column of the data fails here, naming its rule
            if simple.where:
                con.execute(f"SELECT 1 FROM src WHERE ({simple.where}) LIMIT 0", what=f"rule {simple.text()}: where")
        ev = _Evaluator(con, cols, now)
        rows = int(ev.scalar("SELECT count(*) FROM src"))
        ev.prefetch(parsed)
        results, row_checks = [], []
        for rule in parsed:
            out = ev.evaluate(rule)
            entry: dict[str, Any] = {
                "rule": rule.text(), "outcome": "Passed" if out.passed else "Failed",
                "metrics": out.metrics, "message": out.message, "row_level": out.row_sql is not None,
            }  # fmt: skip
            results.append(entry)
            if out.row_sql:
                row_checks.append((rule.text(), out.row_sql, entry))
        quarantined = row_level(con, row_checks, quarantine_path, clean_path, ev.patterns) if row_checks else 0
        if clean_path and not row_checks:
            write_parquet(con, "SELECT * FROM src", clean_path)
    failed = sum(1 for r in results if r["outcome"] == "Failed")
    return {
        "passed": failed == 0,
        "rows": rows,
        "rules_passed": len(results) - failed,
        "rules_failed": failed,
        "rows_quarantined": quarantined,
        "rules": results,
        "evaluated_at": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 4),
    }


__all__ = ["DQDL_TYPES", "validate"]
