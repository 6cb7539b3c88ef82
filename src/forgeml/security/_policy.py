"""IAM-style policies and their evaluation, as AWS IAM evaluates identity policies.

A policy is ``{"Version": "2012-10-17", "Statement": [...]}``; each statement has ``Effect``
(``Allow``/``Deny``), ``Action`` or ``NotAction``, ``Resource`` or ``NotResource`` (a string or a
list) and an optional ``Condition``. Actions (``datasets:Read``) match case-insensitively with
``*`` and ``?`` anywhere; resources are the reference paths the code uses (``dataset/loans:3``,
``model/loans:2``, ``endpoint/loans``) matched case-sensitively, ``*`` spanning ``/`` and ``:``.

Evaluation: no matching statement is an implicit deny; any matching ``Deny`` wins; otherwise any
matching ``Allow`` allows. Conditions: several operators or keys are ANDed, several values of one
key ORed (ANDed for negated operators); an absent key fails positive operators and passes
negated ones. Keys are case-insensitive: ``forgeml:SourceIp``, ``forgeml:SecureTransport``,
``forgeml:PrincipalName``, ``forgeml:PrincipalType``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.security._principals import sql_store

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

_meta = sa.MetaData()
policies = sa.Table(
    "security_policies",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

OPERATORS = ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "IpAddress", "NotIpAddress", "Bool")
_NEGATED = {"StringNotEquals", "StringNotLike", "NotIpAddress"}
READ_VERBS = ["*:Read", "*:List"]


def _allow(actions: list[str], resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


# fmt: off
MANAGED: dict[str, dict[str, Any]] = {
    "ReadOnly": {"Version": "2012-10-17", "Statement": [_allow([*READ_VERBS, "system:Health"])]},
    "DataScientist": {"Version": "2012-10-17", "Statement": [_allow([
        *READ_VERBS, "system:Health", "datasets:*", "features:*", "training:*", "tuning:*", "experiments:*",
        "jobs:*", "evaluation:*", "clarify:*", "transforms:*", "bundles:*", "models:Register", "models:Write",
        "endpoints:Invoke", "endpoints:InvokeAsync",
    ])]},
    "MLOps": {"Version": "2012-10-17", "Statement": [_allow([
        *READ_VERBS, "system:Health", "endpoints:*", "monitoring:*", "alarms:*", "metrics:*", "models:*", "transforms:*", "jobs:*", "bundles:*",
    ])]},
    "Admin": {"Version": "2012-10-17", "Statement": [_allow(["*"])]},
}
# fmt: on


@dataclass(frozen=True)
class Statement:
    """One checked statement."""

    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key lower-cased, values)
    sid: str = ""

    def matches(self, action: str, resource: str, context: dict[str, Any]) -> bool:
        hit_action = any(_action_rx(a).fullmatch(action) for a in self.actions) != self.not_action
        hit_resource = any(_resource_rx(r).fullmatch(resource) for r in self.resources) != self.not_resource
        return hit_action and hit_resource and all(_condition(op, key, values, context) for op, key, values in self.conditions)


@dataclass
class Decision:
    """An evaluation's answer and why: the statements that decided it."""

    allowed: bool
    reason: str
    matched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": "Allow" if self.allowed else "Deny", "reason": self.reason, "matched": self.matched}


@lru_cache(maxsize=4096)
def _action_rx(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


@lru_cache(maxsize=4096)
def _resource_rx(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL)


def _condition(op: str, key: str, values: tuple[str, ...], context: dict[str, Any]) -> bool:
    present = {k.lower(): v for k, v in context.items() if v is not None}
    if key not in present:
        return op in _NEGATED
    actual = str(present[key]).lower() if op == "Bool" else str(present[key])
    if op == "Bool":
        return actual in {v.lower() for v in values}
    if op in ("StringEquals", "StringNotEquals"):
        hit = actual in values
    elif op in ("StringLike", "StringNotLike"):
        hit = any(_resource_rx(v).fullmatch(actual) for v in values)
    else:
        try:
            address = ipaddress.ip_address(actual)
        except ValueError:
            return op in _NEGATED
        hit = any(address in ipaddress.ip_network(v, strict=False) for v in values)
    return hit != (op in _NEGATED)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise ValidationError(f"{where}: expected a non-empty string or list of strings")
    return tuple(items)


def parse_policy(document: Any, name: str = "policy") -> list[Statement]:
    """The checked statements of a policy document.

    Raises:
        ValidationError: naming the policy, the statement and the element that is wrong.
    """
    if not isinstance(document, dict) or "Statement" not in document:
        raise ValidationError(f"{name}: a policy is an object with a Statement list")
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise ValidationError(f"{name}: Statement must be a statement or a non-empty list of them")
    out = []
    for i, st in enumerate(raw):
        where = f"{name}: Statement[{i}]"
        if not isinstance(st, dict):
            raise ValidationError(f"{where}: a statement is an object")
        unknown = set(st) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise ValidationError(f"{where}: unknown element {sorted(unknown)[0]!r}")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise ValidationError(f"{where}.Effect: {st.get('Effect')!r} is not 'Allow' or 'Deny'")
        if ("Action" in st) == ("NotAction" in st):
            raise ValidationError(f"{where}: exactly one of Action and NotAction")
        if ("Resource" in st) == ("NotResource" in st):
            raise ValidationError(f"{where}: exactly one of Resource and NotResource")
        a_key = "Action" if "Action" in st else "NotAction"
        r_key = "Resource" if "Resource" in st else "NotResource"
        conditions = []
        cond = st.get("Condition", {})
        if not isinstance(cond, dict):
            raise ValidationError(f"{where}.Condition: expected an object of operators")
        for op, block in cond.items():
            if op not in OPERATORS:
                raise ValidationError(f"{where}.Condition: unknown operator {op!r} (known: {', '.join(OPERATORS)})")
            if not isinstance(block, dict) or not block:
                raise ValidationError(f"{where}.Condition.{op}: expected an object of keys")
            for key, values in block.items():
                listed = values if isinstance(values, list) else [values]
                vals = _strings([str(v).lower() if isinstance(v, bool) else v for v in listed], f"{where}.Condition.{op}.{key}")
                if op.endswith("IpAddress"):
                    for v in vals:
                        try:
                            ipaddress.ip_network(v, strict=False)
                        except ValueError:
                            raise ValidationError(f"{where}.Condition.{op}.{key}: {v!r} is not an address or CIDR") from None
                conditions.append((op, key.lower(), vals))
        out.append(Statement(
            st["Effect"], _strings(st[a_key], f"{where}.{a_key}"), a_key == "NotAction",
            _strings(st[r_key], f"{where}.{r_key}"), r_key == "NotResource", tuple(conditions), str(st.get("Sid", "")),
        ))  # fmt: skip
    return out


def evaluate(named: dict[str, list[Statement]], action: str, resource: str, context: dict[str, Any] | None = None) -> Decision:
    """IAM's evaluation over the statements of the named policies."""
    ctx = context or {}
    allows: list[str] = []
    denies: list[str] = []
    for policy, statements in named.items():
        for i, st in enumerate(statements):
            if st.matches(action, resource, ctx):
                label = f"{policy}:{st.sid or f'Statement[{i}]'}"
                (denies if st.effect == "Deny" else allows).append(label)
    if denies:
        return Decision(False, f"explicitly denied by {', '.join(denies)}", denies)
    if allows:
        return Decision(True, f"allowed by {', '.join(allows)}", allows)
    return Decision(False, f"no statement allows {action} on {resource} (implicit deny)")


class PolicyStore:
    """Managed policies (built in) and policies the operator stored by name."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._parsed: dict[str, list[Statement]] = {}

    def put(self, name: str, document: Any) -> None:
        """Store a policy document under ``name`` (checked first).

        Raises:
            ValidationError: a bad document. AlreadyExistsError: the name is a managed policy or taken.
        """
        if name in MANAGED:
            raise AlreadyExistsError(f"policy {name!r} is a managed policy")
        parse_policy(document, name)
        with sql_store(self.ws).transaction() as conn:
            if conn.execute(sa.select(policies.c.name).where(policies.c.name == name)).first():
                raise AlreadyExistsError(f"policy {name!r} already exists")
            conn.execute(policies.insert().values(name=name, document=document, created_at=time.time()))

    def get(self, name: str) -> dict[str, Any]:
        if name in MANAGED:
            return MANAGED[name]
        with sql_store(self.ws).read_transaction() as conn:
            row = conn.execute(sa.select(policies.c.document).where(policies.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no policy {name!r} (managed: {', '.join(MANAGED)}; forgeml auth put-policy stores others)")
        return dict(row[0])

    def names(self) -> list[str]:
        with sql_store(self.ws).read_transaction() as conn:
            stored = [r[0] for r in conn.execute(sa.select(policies.c.name).order_by(policies.c.name))]
        return [*MANAGED, *stored]

    def statements(self, names: list[str]) -> dict[str, list[Statement]]:
        """The parsed statements of each named policy (parsed once: a stored policy never changes)."""
        for n in names:
            if n not in self._parsed:
                self._parsed[n] = parse_policy(self.get(n), n)
        return {n: self._parsed[n] for n in names}
