"""Data-quality rules modelled on AWS Glue DQDL: the rule objects and a parser for DQDL text and YAML.

    Rules = [
        IsComplete "id", IsPrimaryKey "id",
        ColumnValues "age" between 18 and 120,
        ColumnValues "state" in ["MA", "NH"] with threshold > 0.9,
        Completeness "income" > 0.95,
        RowCount > 1000,
        (Mean "score" > 3) and (IsUnique "email")
    ]

YAML: ``rules:`` holding DQDL lines (strings) or mappings ``{rule: ColumnValues, column: age,
between: [18, 120], threshold: "> 0.9"}``. Rule names and keywords are case-sensitive, as in DQDL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ValidationError

# rule type -> (min columns, max columns, expression required)
RULE_TYPES: dict[str, tuple[int, int, bool]] = {
    "IsComplete": (1, 1, False),
    "IsUnique": (1, 1, False),
    "IsPrimaryKey": (1, 8, False),
    "ColumnExists": (1, 1, False),
    "Completeness": (1, 1, True),
    "Uniqueness": (1, 8, True),
    "UniqueValueRatio": (1, 1, True),
    "DistinctValuesCount": (1, 1, True),
    "Entropy": (1, 1, True),
    "Mean": (1, 1, True),
    "StandardDeviation": (1, 1, True),
    "Sum": (1, 1, True),
    "ColumnValues": (1, 1, True),
    "ColumnLength": (1, 1, True),
    "ColumnDataType": (1, 1, True),
    "ColumnCorrelation": (2, 2, True),
    "DataFreshness": (1, 1, True),
    "RowCount": (0, 0, True),
    "ColumnCount": (0, 0, True),
    "CustomSQL": (1, 1, True),  # the "column" is the SQL text
    "ColumnNamesMatchPattern": (1, 1, False),  # the "column" is the pattern
}
NOT_SUPPORTED = ("AggregateMatch", "DatasetMatch", "ReferentialIntegrity", "RowCountMatch", "SchemaMatch", "DetectAnomalies")
KEYWORDS = ("NULL", "EMPTY", "WHITESPACES_ONLY")
UNITS = {"minutes": 1 / 60, "minute": 1 / 60, "hours": 1.0, "hour": 1.0, "days": 24.0, "day": 24.0}


@dataclass(frozen=True)
class Condition:
    """``op`` is one of = != < <= > >= between, not between, in, not in, matches, not matches."""

    op: str
    values: tuple[Any, ...] = ()

    def text(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, Keyword):
                return v.name
            if isinstance(v, Age):
                return f"(now() - {v.amount:g} {v.unit})" if v.from_now else f"{v.amount:g} {v.unit}"
            return '"' + v.replace('"', '\\"') + '"' if isinstance(v, str) else repr(v)

        if self.op in ("between", "not between"):
            return f"{self.op} {show(self.values[0])} and {show(self.values[1])}"
        if self.op in ("in", "not in"):
            return f"{self.op} [{', '.join(show(v) for v in self.values)}]"
        return f"{self.op} {show(self.values[0])}"


@dataclass(frozen=True)
class Keyword:
    """DQDL's NULL, EMPTY and WHITESPACES_ONLY value keywords."""

    name: str


@dataclass(frozen=True)
class Age:
    """A duration such as ``24 hours`` (DataFreshness) or ``now() - 3 days`` (date bounds)."""

    amount: float
    unit: str
    from_now: bool = False

    @property
    def hours(self) -> float:
        return self.amount * UNITS[self.unit]


@dataclass(frozen=True)
class Rule:
    """One DQDL rule."""

    type: str
    columns: tuple[str, ...] = ()
    condition: Condition | None = None
    threshold: Condition | None = None
    where: str | None = None

    def text(self) -> str:
        parts = [self.type, *(f'"{c}"' for c in self.columns)]
        if self.condition is not None:
            parts.append(self.condition.text())
        if self.threshold is not None:
            parts.append(f"with threshold {self.threshold.text()}")
        if self.where:
            parts.append(f'where "{self.where}"')
        return " ".join(parts)


@dataclass(frozen=True)
class Composite:
    """``(rule) and (rule) ...`` or ``(rule) or (rule) ...``."""

    op: str
    rules: tuple[Rule | Composite, ...] = field(default_factory=tuple)

    def text(self) -> str:
        return f" {self.op} ".join(f"({r.text()})" for r in self.rules)


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<op><=|>=|!=|=|<|>)'
    r"|(?P<punct>[\[\](),])|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<minus>-))"
)


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValidationError(f"DQDL: cannot read {text[pos:pos + 20]!r} at character {pos + 1}")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        value: Any = raw
        if kind == "str":
            value = raw[1:-1].replace('\\"', '"')
        elif kind == "num":
            value = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
        out.append((kind, value, m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, Any, int] | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self, kind: str | None = None, value: Any = None) -> tuple[str, Any, int]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            want = repr(value) if value is not None else (kind or "more input")
            got = "end of text" if tok is None else repr(tok[1])
            where = f" at character {tok[2] + 1}" if tok else ""
            raise ValidationError(f"DQDL: expected {want}, got {got}{where}")
        self.i += 1
        return tok

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and (value is None or tok[1] == value)

    def ruleset(self) -> list[Rule | Composite]:
        if self.at("word", "Rules"):
            self.take()
            self.take("op", "=")
        bracketed = self.at("punct", "[")
        if bracketed:
            self.take()
        rules: list[Rule | Composite] = []
        while self.peek() is not None and not self.at("punct", "]"):
            rules.append(self.rule())
            if self.at("punct", ","):
                self.take()
        if bracketed:
            self.take("punct", "]")
        if self.peek() is not None:
            raise ValidationError(f"DQDL: unexpected {self.peek()[1]!r} after the rules")  # type: ignore[index]
        return rules

    def rule(self) -> Rule | Composite:
        if not self.at("punct", "("):
            return self.simple()
        parts, ops = [], set()
        while True:
            self.take("punct", "(")
            parts.append(self.rule())
            self.take("punct", ")")
            if self.at("word", "and") or self.at("word", "or"):
                ops.add(self.take()[1])
                continue
            break
        if len(parts) == 1:
            return parts[0]
        if len(ops) > 1:
            raise ValidationError("DQDL: mixing 'and' and 'or' needs parentheses around each group")
        return Composite(ops.pop(), tuple(parts))

    def simple(self) -> Rule:
        _, name, pos = self.take("word")
        if name in NOT_SUPPORTED:
            raise ValidationError(f"DQDL: rule type {name!r} compares with a second dataset and is not supported")
        if name not in RULE_TYPES:
            raise ValidationError(f"DQDL: unknown rule type {name!r} at character {pos + 1} (known: {', '.join(sorted(RULE_TYPES))})")
        low, high, needs_expr = RULE_TYPES[name]
        columns = []
        while self.at("str") and len(columns) < high:
            columns.append(self.take()[1])
        if len(columns) < low:
            raise ValidationError(f"DQDL: {name} needs {low} quoted column name(s)")
        condition = None
        if self.at("op") or self.at("word", "between") or self.at("word", "in") or self.at("word", "not") or self.at("word", "matches"):
            condition = self.condition()
        if needs_expr and condition is None:
            raise ValidationError(f"DQDL: {name} needs an expression such as '> 0.9' or 'between 1 and 10'")
        threshold = where = None
        if self.at("word", "with"):
            self.take()
            self.take("word", "threshold")
            threshold = self.condition()
        if self.at("word", "where"):
            self.take()
            where = self.take("str")[1]
        return Rule(name, tuple(columns), condition, threshold, where)

    def condition(self) -> Condition:
        negate = False
        if self.at("word", "not"):
            self.take()
            negate = True
        tok = self.take()
        if tok[0] == "op" and not negate:
            return Condition(tok[1], (self.value(),))
        word = tok[1]
        if word == "between":
            low = self.value()
            self.take("word", "and")
            return Condition("not between" if negate else "between", (low, self.value()))
        if word == "in":
            self.take("punct", "[")
            values = []
            while not self.at("punct", "]"):
                values.append(self.value())
                if self.at("punct", ","):
                    self.take()
            self.take("punct", "]")
            return Condition("not in" if negate else "in", tuple(values))
        if word == "matches":
            return Condition("not matches" if negate else "matches", (self.take("str")[1],))
        raise ValidationError(f"DQDL: expected a comparison, 'between', 'in' or 'matches', got {word!r}")

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise ValidationError("DQDL: expected a value, got end of text")
        if tok[0] == "punct" and tok[1] == "(":
            self.take()
            value = self.value()
            self.take("punct", ")")
            return value
        if tok[0] == "word" and tok[1] == "now":
            self.take()
            self.take("punct", "(")
            self.take("punct", ")")
            if self.at("minus"):
                self.take()
                amount = self.take("num")[1]
                return Age(float(amount), self.unit(), from_now=True)
            return Age(0.0, "hours", from_now=True)
        if tok[0] == "word" and tok[1] in KEYWORDS:
            self.take()
            return Keyword(tok[1])
        if tok[0] == "num":
            self.take()
            if self.at("word") and self.peek()[1] not in ("and", "with", "where"):  # type: ignore[index]
                return Age(float(tok[1]), self.unit())
            return tok[1]
        if tok[0] == "str":
            self.take()
            return tok[1]
        raise ValidationError(f"DQDL: expected a value, got {tok[1]!r} at character {tok[2] + 1}")

    def unit(self) -> str:
        _, unit, pos = self.take("word")
        if unit not in UNITS:
            raise ValidationError(f"DQDL: unknown time unit {unit!r} at character {pos + 1} (minutes, hours, days)")
        return unit


def parse_dqdl(text: str) -> list[Rule | Composite]:
    """Parse a DQDL ruleset (``Rules = [ ... ]``) or a bare comma-separated list of rules.

    Raises:
        ValidationError: unknown rule types, wrong arguments, syntax errors (with the position).
    """
    return _Parser(text).ruleset()


def _from_mapping(spec: dict[str, Any], position: int) -> Rule:
    spec = dict(spec)
    name = spec.pop("rule", None)
    where = f"rule {position + 1}"
    if not isinstance(name, str):
        raise ValidationError(f"{where}: needs a 'rule' key naming the rule type")
    column = spec.pop("column", None)
    columns = spec.pop("columns", None) or ([column] if column is not None else [])
    parts = [name, *(f'"{c}"' for c in columns)]
    if "sql" in spec:
        parts.append('"' + str(spec.pop("sql")).replace('"', '\\"') + '"')
    if "pattern" in spec:
        parts.append('"' + str(spec.pop("pattern")).replace('"', '\\"') + '"')
    for op in ("between", "in", "not in", "matches", "condition"):
        if op in spec:
            value = spec.pop(op)
            if op == "between":
                parts.append(f"between {_lit(value[0])} and {_lit(value[1])}")
            elif op in ("in", "not in"):
                parts.append(f"{op} [{', '.join(_lit(v) for v in value)}]")
            elif op == "matches":
                parts.append(f"matches {_lit(str(value))}")
            else:
                parts.append(str(value))
    if "threshold" in spec:
        parts.append(f"with threshold {spec.pop('threshold')}")
    if "where" in spec:
        parts.append(f"where {_lit(str(spec.pop('where')))}")
    if spec:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(sorted(spec))}")
    rules = parse_dqdl(" ".join(parts))
    return rules[0]  # type: ignore[return-value]


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return str(value)


def load_rules(source: Any) -> list[Rule | Composite]:
    """Rules from DQDL text, YAML text (``rules:`` list), a list of DQDL strings/mappings, or rule objects.

    Raises:
        ValidationError: malformed YAML or rules.
    """
    import yaml

    if isinstance(source, str):
        stripped = source.lstrip()
        if stripped.startswith("Rules") or (stripped.startswith("[") and not stripped.startswith("[{")):
            return parse_dqdl(source)
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ValidationError(f"rules YAML is malformed{at}: {getattr(exc, 'problem', exc)}") from None
        if isinstance(data, str):
            return parse_dqdl(data)
        source = data.get("rules") if isinstance(data, dict) else data
        if source is None:
            raise ValidationError("rules YAML needs a 'rules:' list")
    if not isinstance(source, list | tuple):
        raise ValidationError(f"rules must be DQDL text or a list, got {type(source).__name__}")
    out: list[Rule | Composite] = []
    for i, item in enumerate(source):
        if isinstance(item, Rule | Composite):
            out.append(item)
        elif isinstance(item, str):
            out.extend(parse_dqdl(item))
        elif isinstance(item, dict):
            out.append(_from_mapping(item, i))
        else:
            raise ValidationError(f"rule {i + 1}: expected DQDL text or a mapping, got {type(item).__name__}")
    if not out:
        raise ValidationError("no rules given")
    return out


__all__ = ["NOT_SUPPORTED", "RULE_TYPES", "Age", "Composite", "Condition", "Keyword", "Rule", "load_rules", "parse_dqdl"]
