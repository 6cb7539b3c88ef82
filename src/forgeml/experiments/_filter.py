"""Run filter expressions: ``metrics.validation:auc > 0.8 and params.max_depth = 3``.

Grammar (keywords are case-insensitive)::

    filter  := clause ("and" clause)*
    clause  := field op value
    field   := ("metrics" | "params" | "tags") "." key  |  attribute
    key     := [A-Za-z0-9_:./-]+  |  `any text`  |  "any text"
    attribute := status | name | experiment | kind | source | created_at | ended_at
    op      := = | == | != | < | <= | > | >= | like
    value   := number | 'text' | "text" | bare-word

Semantics follow MLflow's search: a run without the named metric, parameter or tag never matches
(``!=`` included). A metric compares numerically. A parameter compares numerically when the value
is an unquoted number (``params.max_depth = 3`` matches ``3``, ``3.0``), as text otherwise
(``params.max_depth = '3'``). ``like`` matches text case-insensitively with ``%`` and ``_``
wildcards. Only ``and`` is supported, as in MLflow and SageMaker's search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from forgeml.errors import ValidationError

ATTRIBUTES = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "experiment": "experiment",
    "kind": "kind",
    "source": "source",
    "created_at": "created_at",
    "ended_at": "ended_at",
}
NUMERIC_ATTRIBUTES = {"created_at", "ended_at"}
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "like")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<field>(?:metrics|metric|params|param|tags|tag|attributes|attribute|attr)\.
        (?:`[^`]+`|"[^"]+"|[A-Za-z0-9_:./\-]+))
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))(?![A-Za-z0-9_:./\-])
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_:./\-]*)
    """,
    re.VERBOSE | re.IGNORECASE,
)

_SCOPES = {
    "metrics": "metrics", "metric": "metrics",
    "params": "params", "param": "params",
    "tags": "tags", "tag": "tags",
    "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
}  # fmt: skip


@dataclass(frozen=True)
class Clause:
    """One comparison: ``scope`` is metrics, params, tags or attributes."""

    scope: str
    key: str
    op: str
    value: Any
    numeric: bool

    def matches(self, run: Any) -> bool:
        """Evaluate the clause on a :class:`RunRecord` in Python (the SQL path's reference)."""
        if self.scope == "attributes":
            have = getattr(run, self.key)
        else:
            have = getattr(run, self.scope).get(self.key)
        if have is None:
            return False
        if self.scope == "params" and self.numeric:
            try:
                have = float(have)
            except ValueError:
                return False
        elif self.scope == "metrics" or (self.scope == "attributes" and self.key in NUMERIC_ATTRIBUTES):
            have = float(have)
        else:
            have = str(have)
        return _compare(have, self.op, self.value)


def _compare(have: Any, op: str, want: Any) -> bool:
    if op == "like":
        pattern = "^" + re.escape(str(want)).replace("%", ".*").replace("_", ".") + "$"
        return re.match(pattern, str(have), re.DOTALL | re.IGNORECASE) is not None
    return bool({
        "=": have == want, "!=": have != want, "<": have < want,
        "<=": have <= want, ">": have > want, ">=": have >= want,
    }[op])  # fmt: skip


def _unquote(text: str) -> str:
    if text[:1] in "`\"'" and text[-1:] == text[:1]:
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValidationError(f"filter: cannot read {text[pos:pos + 20]!r} at position {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group(), pos))
        pos = m.end()
    return out


def parse_filter(text: str | None) -> list[Clause]:
    """Parse a filter expression into clauses joined by ``and``.

    Raises:
        ValidationError: naming the position and what was expected.
    """
    if text is None or not text.strip():
        return []
    tokens = _tokens(text)
    clauses: list[Clause] = []
    i = 0
    while True:
        if i >= len(tokens):
            raise ValidationError(f"filter: expected a field such as metrics.<name> at the end of {text!r}")
        kind, value, pos = tokens[i]
        if kind == "field":
            scope_text, _, key_text = value.partition(".")
            scope, key = _SCOPES[scope_text.lower()], _unquote(key_text)
            if scope == "attributes":
                if key.lower() not in ATTRIBUTES:
                    raise ValidationError(f"filter: unknown attribute {key!r} at position {pos} (expected one of {', '.join(sorted(ATTRIBUTES))})")
                key = ATTRIBUTES[key.lower()]
        elif kind == "word" and value.lower() in ATTRIBUTES:
            scope, key = "attributes", ATTRIBUTES[value.lower()]
        else:
            raise ValidationError(
                f"filter: expected a field (metrics.<name>, params.<name>, tags.<name> or an attribute) at position {pos}, got {value!r}"
            )
        if i + 1 >= len(tokens):
            raise ValidationError(f"filter: expected an operator after {value!r} at position {pos}")
        op_kind, op, op_pos = tokens[i + 1]
        if op_kind == "word" and op.lower() == "like":
            op = "like"
        elif op_kind != "op":
            raise ValidationError(f"filter: expected an operator ({', '.join(OPERATORS)}) at position {op_pos}, got {op!r}")
        op = {"==": "=", "<>": "!="}.get(op, op)
        if i + 2 >= len(tokens):
            raise ValidationError(f"filter: expected a value after {op!r} at position {op_pos}")
        val_kind, raw, val_pos = tokens[i + 2]
        if val_kind not in ("number", "string", "word"):
            raise ValidationError(f"filter: expected a value at position {val_pos}, got {raw!r}")
        numeric = val_kind == "number"
        val: Any = float(raw) if numeric else _unquote(raw)
        numeric_field = scope == "metrics" or (scope == "attributes" and key in NUMERIC_ATTRIBUTES)
        if numeric_field and op != "like":
            if not numeric:
                raise ValidationError(f"filter: {value} compares numbers; got {raw!r} at position {val_pos}")
        elif op == "like" and numeric_field:
            raise ValidationError(f"filter: 'like' needs a text field, not {value} (position {op_pos})")
        if op == "like":
            val, numeric = str(raw if numeric else val), False
        clauses.append(Clause(scope, key, op, val, numeric))
        i += 3
        if i >= len(tokens):
            return clauses
        kind, word, pos = tokens[i]
        if kind == "word" and word.lower() == "and":
            i += 1
            continue
        if kind == "word" and word.lower() == "or":
            raise ValidationError(f"filter: 'or' is not supported (position {pos}); run two searches instead")
        raise ValidationError(f"filter: expected 'and' at position {pos}, got {word!r}")


__all__ = ["ATTRIBUTES", "OPERATORS", "Clause", "parse_filter"]
