"""EventBridge event patterns: parsed and checked at definition, matched against envelopes.

Semantics (reference: aws-semantics-2.md §3.2, EventBridge and aws/event-ruler): the pattern
mirrors the event and every pattern field must exist in the event at the same nesting; other event
fields are ignored. A leaf is an array of alternatives (OR); fields are ANDed; an event array
matches when it intersects the leaf. Exact matching is case-sensitive and compares JSON text, so
``300`` is not ``300.0`` and ``null`` is not ``""``. Dotted keys are nested keys
(``{"a.b": ..}`` is ``{"a": {"b": ..}}``). Operators: ``prefix``, ``suffix`` (each also as
``{"equals-ignore-case": ..}``), ``equals-ignore-case``, ``wildcard``, ``anything-but``,
``numeric``, ``cidr``, ``exists`` and ``$or``. An unknown operator or a malformed one is a
:class:`~forgeml.errors.ValidationError`; a pattern that can never match parses, with warnings.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ValidationError

OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "cidr", "exists")
NUMERIC_OPS = ("=", "<", "<=", ">", ">=")
NUMERIC_LIMIT = 5e9
MAX_COMBINATIONS = 1000
MAX_PATTERN_CHARS = 4096
MAX_FIELDS = 2000  # fields and alternatives in all (YAML aliases could otherwise expand a short text)


@dataclass(frozen=True)
class Pattern:
    """A checked pattern: the normalised tree and what makes it unable to match (if anything)."""

    tree: dict[str, Any]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether the EventBridge envelope ``event`` matches."""
        return _match_object(self.tree, event)


# parsing ---------------------------------------------------------------------------------------
def load_pattern(source: str | dict[str, Any]) -> Pattern:
    """A pattern from JSON or YAML text or from a mapping, checked.

    Raises:
        ValidationError: not a mapping, an unknown operator, a malformed value; the message names
            the path inside the pattern.
    """
    if isinstance(source, str):
        if len(source) > MAX_PATTERN_CHARS:
            raise ValidationError(f"event pattern: at most {MAX_PATTERN_CHARS} characters, got {len(source)}")
        source = _load_text(source)
    if not isinstance(source, dict) or not source:
        raise ValidationError("event pattern: must be a non-empty JSON object, e.g. {\"source\": [\"forgeml.alarms\"]}")
    warnings: list[str] = []
    tree = _parse_object(source, "", warnings, [MAX_FIELDS])
    if _combinations(tree) > MAX_COMBINATIONS:
        raise ValidationError(f"event pattern: more than {MAX_COMBINATIONS} combinations of $or alternatives")
    _warn_unknown_source(tree, warnings)
    return Pattern(tree, tuple(warnings))


def _load_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"event pattern: neither JSON nor YAML: {str(exc).splitlines()[0]}") from None


def _nest(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "$or" or "." not in key:
            out[key] = value
            continue
        head, _, rest = key.partition(".")
        inner = out.setdefault(head, {})
        if not isinstance(inner, dict):
            raise ValidationError(f"event pattern: {key!r} nests under {head!r}, which is also a leaf")
        inner[rest] = value
    return out


def _parse_object(obj: dict[str, Any], where: str, warnings: list[str], budget: list[int]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in _nest(obj).items():
        path = f"{where}.{key}" if where else key
        budget[0] -= 1 + (len(value) if isinstance(value, list) else 0)
        if budget[0] < 0:
            raise ValidationError(f"event pattern: more than {MAX_FIELDS} fields and values")
        if not isinstance(key, str) or not key:
            raise ValidationError(f"event pattern: {path!r}: keys must be non-empty strings")
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, dict) and v for v in value):
                raise ValidationError(f"event pattern: {path}: $or takes a list of at least 2 non-empty objects")
            branches = [_parse_object(v, where, [], budget) for v in value]
            tree["$or"] = branches
        elif isinstance(value, dict):
            if not value:
                raise ValidationError(f"event pattern: {path}: an empty object matches nothing; give fields or remove it")
            tree[key] = _parse_object(value, path, warnings, budget)
        elif isinstance(value, list):
            tree[key] = _parse_leaf(value, path, warnings)
        else:
            raise ValidationError(f"event pattern: {path}: a leaf must be an array of values, e.g. [{json.dumps(value)}]")
    return tree


def _parse_leaf(items: list[Any], path: str, warnings: list[str]) -> list[tuple[str, Any]]:
    if not items:
        warnings.append(f"{path}: an empty array matches no event")
    out: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            out.append(_parse_operator(item, path, warnings))
        elif isinstance(item, list):
            raise ValidationError(f"event pattern: {path}: nested arrays are not allowed in a leaf")
        else:
            out.append(("exact", json.dumps(item)))
    return out


def _parse_operator(item: dict[str, Any], path: str, warnings: list[str]) -> tuple[str, Any]:
    if len(item) != 1:
        raise ValidationError(f"event pattern: {path}: an operator object has exactly one key, got {sorted(item)}")
    op, arg = next(iter(item.items()))
    if op not in OPERATORS:
        raise ValidationError(f"event pattern: {path}: unknown operator {op!r} (expected one of {', '.join(OPERATORS)})")
    where = f"{path}: {op}"
    if op in ("prefix", "suffix"):
        if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"} and isinstance(arg["equals-ignore-case"], str):
            return (op + "-ic", arg["equals-ignore-case"].lower())
        if not isinstance(arg, str):
            raise ValidationError(f"event pattern: {where} takes a string or {{\"equals-ignore-case\": string}}")
        return (op, arg)
    if op == "equals-ignore-case":
        if not isinstance(arg, str):
            raise ValidationError(f"event pattern: {where} takes a string")
        return (op, arg.lower())
    if op == "wildcard":
        if not isinstance(arg, str):
            raise ValidationError(f"event pattern: {where} takes a string")
        return (op, _wildcard(arg, where))
    if op == "numeric":
        return (op, _numeric(arg, where, warnings))
    if op == "cidr":
        try:
            return (op, ipaddress.ip_network(arg, strict=False)) if isinstance(arg, str) else _bad(where, "an IPv4/IPv6 CIDR string")
        except ValueError:
            raise ValidationError(f"event pattern: {where}: {arg!r} is not a CIDR block") from None
    if op == "exists":
        if not isinstance(arg, bool):
            raise ValidationError(f"event pattern: {where} takes true or false")
        return (op, arg)
    return _anything_but(arg, where)


def _bad(where: str, what: str) -> Any:
    raise ValidationError(f"event pattern: {where} takes {what}")


def _wildcard(text: str, where: str) -> re.Pattern[str]:
    out, i, last_star = [], 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in ("*", "\\"):
                raise ValidationError(f"event pattern: {where}: only \\* and \\\\ are valid escapes, in {text!r}")
            out.append(re.escape(nxt))
            i, last_star = i + 2, False
            continue
        if ch == "*":
            if last_star:
                raise ValidationError(f"event pattern: {where}: consecutive '*' are not allowed, in {text!r}")
            out.append(".*")
            last_star = True
        else:
            out.append(re.escape(ch))
            last_star = False
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"event pattern: {where}: {json.dumps(value)} is not a number")
    if not -NUMERIC_LIMIT <= value <= NUMERIC_LIMIT:
        raise ValidationError(f"event pattern: {where}: {value} is outside -5e9..5e9")
    return round(float(value), 6)


def _numeric(arg: Any, where: str, warnings: list[str]) -> list[tuple[str, float]]:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise ValidationError(f"event pattern: {where} takes [op, number, ...], e.g. [\">\", 0, \"<=\", 5]")
    pairs = []
    for op, value in zip(arg[0::2], arg[1::2], strict=True):
        if op not in NUMERIC_OPS:
            raise ValidationError(f"event pattern: {where}: unknown comparison {op!r} (expected one of {', '.join(NUMERIC_OPS)})")
        pairs.append((op, _number(value, where)))
    lows = [p for p in pairs if p[0] in (">", ">=")]
    highs = [p for p in pairs if p[0] in ("<", "<=")]
    equals = [p for p in pairs if p[0] == "="]
    if len(lows) > 1 or len(highs) > 1 or (equals and len(pairs) > 1):
        raise ValidationError(f"event pattern: {where}: at most one lower and one upper bound, or '=' alone")
    if lows and highs:
        (lo_op, lo), (hi_op, hi) = lows[0], highs[0]
        if lo > hi or (lo == hi and (lo_op == ">" or hi_op == "<")):
            warnings.append(f"{where.split(':')[0]}: numeric range {arg} is empty and matches no event")
    return pairs


def _anything_but(arg: Any, where: str) -> tuple[str, Any]:
    if isinstance(arg, dict):
        if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "wildcard", "equals-ignore-case"):
            raise ValidationError(f"event pattern: {where} takes a value, a list or one of prefix, suffix, wildcard, equals-ignore-case")
        op, value = next(iter(arg.items()))
        values = value if isinstance(value, list) and op in ("wildcard", "equals-ignore-case") else [value]
        if not values or not all(isinstance(v, str) for v in values):
            raise ValidationError(f"event pattern: {where}: {op} takes a string")
        if op == "wildcard":
            return ("not-wildcard", [_wildcard(v, where) for v in values])
        return ("not-" + op, [v.lower() for v in values] if op == "equals-ignore-case" else values)
    values = arg if isinstance(arg, list) else [arg]
    strings = all(isinstance(v, str) for v in values)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not values or not (strings or numbers):
        raise ValidationError(f"event pattern: {where}: a list must hold only strings or only numbers")
    return ("values", [json.dumps(v) for v in values])


def _combinations(tree: dict[str, Any]) -> int:
    total = 1
    for key, value in tree.items():
        if key == "$or":
            total *= sum(_combinations(b) for b in value)
        elif isinstance(value, dict):
            total *= _combinations(value)
    return total


KNOWN_SOURCE_PREFIX = "forgeml."


def _warn_unknown_source(tree: dict[str, Any], warnings: list[str]) -> None:
    leaf = tree.get("source")
    if isinstance(leaf, dict):
        warnings.append("source: ForgeML events have a string source, so a nested pattern under it matches no event")
    elif isinstance(leaf, list) and leaf and all(kind == "exact" for kind, _ in leaf):
        values = [json.loads(v) for _, v in leaf]
        if not any(isinstance(v, str) and v.startswith(KNOWN_SOURCE_PREFIX) for v in values):
            warnings.append(f"source: {values} names no ForgeML source (they start with 'forgeml.'): matches no ForgeML event")
    if isinstance(tree.get("detail"), list):
        warnings.append("detail: it is always an object, so a leaf array matches no event; nest fields under it")


# matching --------------------------------------------------------------------------------------
_MISSING = object()


def _match_object(tree: dict[str, Any], event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    for key, sub in tree.items():
        if key == "$or":
            if not any(_match_object(b, event) for b in sub):
                return False
            continue
        value = event.get(key, _MISSING)
        if isinstance(sub, dict):
            if isinstance(value, list):
                if not any(_match_object(sub, v) for v in value):
                    return False
            elif not _match_object(sub, value):
                return False
        elif not _match_leaf(sub, value):
            return False
    return True


def _match_leaf(alternatives: list[tuple[str, Any]], value: Any) -> bool:
    exists = value is not _MISSING and not isinstance(value, dict) and value != []
    values = value if isinstance(value, list) else [value]
    for kind, arg in alternatives:
        if kind == "exists":
            if exists == arg:
                return True
        elif exists and any(_match_one(kind, arg, v) for v in values if not isinstance(v, dict | list)):
            return True
    return False


def _match_one(kind: str, arg: Any, value: Any) -> bool:
    if kind == "exact":
        return bool(json.dumps(value) == arg)
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        v = round(float(value), 6)
        return all(_compare(op, v, bound) for op, bound in arg)
    if kind == "cidr":
        try:
            return isinstance(value, str) and ipaddress.ip_address(value) in arg
        except ValueError:
            return False
    if kind == "values":
        return json.dumps(value) not in arg
    if not isinstance(value, str):
        return False
    if kind == "prefix":
        return value.startswith(arg)
    if kind == "suffix":
        return value.endswith(arg)
    if kind == "prefix-ic":
        return value.lower().startswith(arg)
    if kind == "suffix-ic":
        return value.lower().endswith(arg)
    if kind == "equals-ignore-case":
        return bool(value.lower() == arg)
    if kind == "wildcard":
        return arg.fullmatch(value) is not None
    if kind == "not-wildcard":
        return not any(p.fullmatch(value) for p in arg)
    if kind == "not-prefix":
        return not any(value.startswith(a) for a in arg)
    if kind == "not-suffix":
        return not any(value.endswith(a) for a in arg)
    if kind == "not-equals-ignore-case":
        return value.lower() not in arg
    return False


def _compare(op: str, v: float, bound: float) -> bool:
    return {"=": v == bound, "<": v < bound, "<=": v <= bound, ">": v > bound, ">=": v >= bound}[op]


__all__ = ["Pattern", "load_pattern"]
