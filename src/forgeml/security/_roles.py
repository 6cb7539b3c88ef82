"""Groups, roles and role sessions: IAM's other two holders of identity policies.

* A **group** holds policies and members (users and service accounts); a member acts with its
  own policies plus every policy of every group it is in. A group is not a principal: nobody
  signs in as one, and a trust policy cannot name one (as in IAM).
* A **role** holds policies and a **trust policy** saying who may assume it. Assuming it
  (``sts:AssumeRole``) hands out temporary credentials: an access key id starting ``FSIA``
  (IAM's ``ASIA``) and a secret shown once, good for ``DurationSeconds`` (900 s up to the role's
  ``MaxSessionDuration``, 3,600 s to 43,200 s; 3,600 s by default), after which every request
  with them is a 401. A session acts with the role's policies only, as
  ``assumed-role/ROLE/SESSION``.

Trust evaluation follows IAM's same-account rule: any explicit ``Deny`` (in the trust policy or
in the caller's identity policies) refuses; a trust statement that names the caller allows on
its own; a trust statement with ``"Principal": "*"`` (the whole workspace, IAM's account
principal) allows only if the caller's identity policies also allow ``sts:AssumeRole`` on
``role/NAME``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from forgeml.errors import (
    AlreadyExistsError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from forgeml.security._principals import _ALPHABET, _NAME, Principal, scrypt_hash, sql_store

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.security._policy import Statement

_meta = sa.MetaData()
groups = sa.Table(
    "security_groups",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
members = sa.Table(
    "security_group_members",
    _meta,
    sa.Column("group_name", sa.String(128), primary_key=True),
    sa.Column("principal", sa.String(128), primary_key=True),
)
roles = sa.Table(
    "security_roles",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("trust", sa.JSON, nullable=False),
    sa.Column("max_session_seconds", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
sessions = sa.Table(
    "security_sessions",
    _meta,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(128), nullable=False),
    sa.Column("session_name", sa.String(64), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

SESSION_PREFIX = "FSIA"
ASSUME = "sts:AssumeRole"
MIN_SESSION, MAX_SESSION, DEFAULT_SESSION = 900, 43200, 3600
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")


@dataclass
class Group:
    """A named set of principals and the policies they all get."""

    name: str
    policies: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Role:
    """A role: its policies, who may assume it, and for how long at most."""

    name: str
    policies: list[str]
    trust: dict[str, Any]
    max_session_seconds: int = DEFAULT_SESSION
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Credentials:
    """Temporary credentials of a role session (the secret appears only here)."""

    key_id: str
    secret: str
    role: str
    session_name: str
    expires_at: float

    @property
    def credential(self) -> str:
        return f"{self.key_id}:{self.secret}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "credential": self.credential, "principal": f"assumed-role/{self.role}/{self.session_name}"}


def parse_trust(document: Any, role: str) -> list[tuple[tuple[str, ...], Statement]]:
    """The trust policy's statements, each with the principals it names (``("*",)`` for all).

    Raises:
        ValidationError: naming the role, the statement and what is wrong.
    """
    from forgeml.security._policy import parse_policy

    where = f"role {role} trust policy"
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), (list, dict)):
        raise ValidationError(f"{where}: a policy is an object with a Statement list")
    raw = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    out = []
    for i, st in enumerate(raw):
        if not isinstance(st, dict) or "Principal" not in st:
            raise ValidationError(f"{where}: Statement[{i}] needs a Principal (\"*\" or {{\"ForgeML\": [names]}})")
        if "Resource" in st or "NotResource" in st:
            raise ValidationError(f"{where}: Statement[{i}]: a trust policy names no Resource (the role is the resource)")
        who = st["Principal"]
        if who == "*":
            names: tuple[str, ...] = ("*",)
        elif isinstance(who, dict) and set(who) == {"ForgeML"}:
            listed = who["ForgeML"] if isinstance(who["ForgeML"], list) else [who["ForgeML"]]
            if not listed or not all(isinstance(n, str) and (n == "*" or _NAME.fullmatch(n)) for n in listed):
                raise ValidationError(f"{where}: Statement[{i}].Principal.ForgeML: principal names or \"*\"")
            names = tuple(listed)
        else:
            raise ValidationError(f"{where}: Statement[{i}].Principal: \"*\" or {{\"ForgeML\": [names]}}")
        body = {k: v for k, v in st.items() if k != "Principal"} | {"Resource": "*"}
        (statement,) = parse_policy({"Statement": [body]}, f"{where}: Statement[{i}]")
        out.append((names, statement))
    return out


class RoleStore:
    """Groups, roles and role sessions over the workspace's metadata database."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def _check_policies(self, names: list[str]) -> list[str]:
        from forgeml.security._policy import PolicyStore

        store = PolicyStore(self.ws)
        for policy in names:
            store.get(policy)  # NotFoundError names it
        return list(dict.fromkeys(names))

    @staticmethod
    def _check_name(name: str, what: str) -> None:
        if not _NAME.fullmatch(name or ""):
            raise ValidationError(f"{what} name {name!r}: 1-128 letters, digits or _.@+=- starting with a letter or digit")

    # groups ------------------------------------------------------------------------------------
    def create_group(self, name: str, policies: list[str] | None = None) -> Group:
        """Add a group with policies attached.

        Raises:
            ValidationError: a bad name. NotFoundError: an unknown policy. AlreadyExistsError: taken.
        """
        self._check_name(name, "group")
        record = Group(name, self._check_policies(policies or []), [], time.time())
        with sql_store(self.ws).transaction() as conn:
            if conn.execute(sa.select(groups.c.name).where(groups.c.name == name)).first():
                raise AlreadyExistsError(f"group {name!r} already exists")
            conn.execute(groups.insert().values(name=name, policies=record.policies, created_at=record.created_at))
        return record

    def get_group(self, name: str) -> Group:
        with sql_store(self.ws).read_transaction() as conn:
            row = conn.execute(sa.select(groups).where(groups.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"no group {name!r} (forgeml auth create-group makes one)")
            who = [r[0] for r in conn.execute(sa.select(members.c.principal).where(members.c.group_name == name).order_by(members.c.principal))]
        return Group(row.name, list(row.policies), who, row.created_at)

    def list_groups(self) -> list[Group]:
        with sql_store(self.ws).read_transaction() as conn:
            names = [r[0] for r in conn.execute(sa.select(groups.c.name).order_by(groups.c.name))]
        return [self.get_group(n) for n in names]

    def add_member(self, group: str, principal: str) -> Group:
        """Put a user or service account in a group (once).

        Raises:
            NotFoundError: no such group or principal.
        """
        from forgeml.security._principals import PrincipalStore

        PrincipalStore(self.ws).get_principal(principal)
        self.get_group(group)
        with sql_store(self.ws).transaction() as conn:
            hit = members.c.group_name == group, members.c.principal == principal
            if not conn.execute(sa.select(members.c.principal).where(*hit)).first():
                conn.execute(members.insert().values(group_name=group, principal=principal))
        return self.get_group(group)

    def remove_member(self, group: str, principal: str) -> Group:
        with sql_store(self.ws).transaction() as conn:
            done = conn.execute(members.delete().where(members.c.group_name == group, members.c.principal == principal)).rowcount
        if not done:
            raise NotFoundError(f"{principal!r} is not a member of group {group!r}")
        return self.get_group(group)

    def groups_of(self, principal: str) -> list[Group]:
        with sql_store(self.ws).read_transaction() as conn:
            query = sa.select(groups).join(members, members.c.group_name == groups.c.name).where(members.c.principal == principal)
            rows = conn.execute(query.order_by(groups.c.name)).all()
        return [Group(r.name, list(r.policies), [], r.created_at) for r in rows]

    # roles -------------------------------------------------------------------------------------
    def create_role(
        self, name: str, trust: dict[str, Any], policies: list[str] | None = None, *, max_session_seconds: int = DEFAULT_SESSION
    ) -> Role:
        """Add a role with a trust policy and policies attached.

        Raises:
            ValidationError: a bad name, trust policy or session limit. AlreadyExistsError: taken.
        """
        self._check_name(name, "role")
        parse_trust(trust, name)
        if not DEFAULT_SESSION <= max_session_seconds <= MAX_SESSION:
            raise ValidationError(f"role {name}: max session duration {max_session_seconds} s is not within {DEFAULT_SESSION}-{MAX_SESSION} s")
        record = Role(name, self._check_policies(policies or []), trust, int(max_session_seconds), time.time())
        with sql_store(self.ws).transaction() as conn:
            if conn.execute(sa.select(roles.c.name).where(roles.c.name == name)).first():
                raise AlreadyExistsError(f"role {name!r} already exists")
            conn.execute(roles.insert().values(**record.to_dict()))
        return record

    def get_role(self, name: str) -> Role:
        with sql_store(self.ws).read_transaction() as conn:
            row = conn.execute(sa.select(roles).where(roles.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no role {name!r} (forgeml auth create-role makes one)")
        m = dict(row._mapping)
        return Role(m["name"], list(m["policies"]), dict(m["trust"]), int(m["max_session_seconds"]), m["created_at"])

    def list_roles(self) -> list[Role]:
        with sql_store(self.ws).read_transaction() as conn:
            names = [r[0] for r in conn.execute(sa.select(roles.c.name).order_by(roles.c.name))]
        return [self.get_role(n) for n in names]

    def attach(self, kind: str, name: str, policy: str) -> list[str]:
        """Attach a policy to a group or role; the policies it holds now."""
        table = {"group": groups, "role": roles}[kind]
        self._check_policies([policy])
        current = self.get_group(name).policies if kind == "group" else self.get_role(name).policies
        if policy not in current:
            current.append(policy)
            with sql_store(self.ws).transaction() as conn:
                conn.execute(table.update().where(table.c.name == name).values(policies=current))
        return current

    # sessions ----------------------------------------------------------------------------------
    def trust_decision(self, caller: Principal, role: Role, context: dict[str, Any] | None = None) -> tuple[bool, str]:
        """Whether ``caller`` may assume ``role``, and why (IAM's same-account trust rule)."""
        from forgeml.security._policy import evaluate

        resource = f"role/{role.name}"
        ctx = context or {}
        named, everyone, denied = [], [], []
        for i, (who, st) in enumerate(parse_trust(role.trust, role.name)):
            if not st.matches(ASSUME, resource, ctx) or not ("*" in who or caller.name in who):
                continue
            label = f"trust:{st.sid or f'Statement[{i}]'}"
            if st.effect == "Deny":
                denied.append(label)
            else:
                (named if caller.name in who else everyone).append(label)
        identity = evaluate(identity_policies(self.ws, caller), ASSUME, resource, ctx)
        if denied:
            return False, f"explicitly denied by the trust policy of role {role.name} ({', '.join(denied)})"
        if identity.matched and not identity.allowed:
            return False, identity.reason
        if named:
            return True, f"the trust policy of role {role.name} names {caller.name} ({', '.join(named)})"
        if everyone and identity.allowed:
            return True, f"the trust policy of role {role.name} trusts the workspace and {identity.reason}"
        if everyone:
            return False, f"the trust policy of role {role.name} trusts the workspace, but {caller.name}'s policies do not allow {ASSUME} ({identity.reason})"
        return False, f"the trust policy of role {role.name} does not trust {caller.name}"

    def assume_role(
        self, caller: Principal, role_name: str, *, session_name: str | None = None, duration_seconds: int = DEFAULT_SESSION,
        context: dict[str, Any] | None = None,
    ) -> Credentials:  # fmt: skip
        """Temporary credentials for ``caller`` acting as the role, as STS ``AssumeRole`` gives.

        Raises:
            NotFoundError: no such role. ValidationError: a bad session name or duration.
            ForbiddenError: the trust policy (or an explicit deny) refuses the caller.
        """
        if caller.type == "role":
            raise ForbiddenError(f"{caller.name}: a role session cannot assume a role (role chaining is not supported)")
        role = self.get_role(role_name)
        session = session_name or caller.name
        if not _SESSION_NAME.fullmatch(session):
            raise ValidationError(f"session name {session!r}: 2-64 letters, digits or _+=,.@-")
        if not MIN_SESSION <= duration_seconds <= role.max_session_seconds:
            raise ValidationError(
                f"duration {duration_seconds} s: role {role.name} allows {MIN_SESSION} s to its max session duration of {role.max_session_seconds} s"
            )
        allowed, reason = self.trust_decision(caller, role, context)
        if not allowed:
            raise ForbiddenError(f"{caller.name} may not assume role {role.name}: {reason}")
        now = time.time()
        key_id = SESSION_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        secret, salt = secrets.token_urlsafe(30), secrets.token_bytes(16)
        with sql_store(self.ws).transaction() as conn:
            conn.execute(sessions.insert().values(
                key_id=key_id, role=role.name, session_name=session, source=caller.name, salt=salt.hex(),
                hash=scrypt_hash(secret, salt), created_at=now, expires_at=now + duration_seconds,
            ))  # fmt: skip
        return Credentials(key_id, secret, role.name, session, now + duration_seconds)

    def authenticate_session(self, key_id: str, secret: str, verified: dict[str, tuple[bytes, float]], cache_seconds: float) -> Principal:
        """The role-session principal whose temporary credentials these are.

        Raises:
            UnauthenticatedError: unknown, wrong secret or expired.
        """
        with sql_store(self.ws).read_transaction() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.key_id == key_id)).first()
        if row is None:
            raise UnauthenticatedError(f"temporary credentials {key_id} are not known")
        m = row._mapping
        now = time.time()
        if m["expires_at"] <= now:
            raise UnauthenticatedError(f"temporary credentials {key_id} of role {m['role']} expired (assume the role again)")
        digest = hashlib.sha256(secret.encode()).digest()
        cached = verified.get(key_id)
        if not (cached and now - cached[1] < cache_seconds and hmac.compare_digest(cached[0], digest)):
            if not hmac.compare_digest(scrypt_hash(secret, bytes.fromhex(m["salt"])), m["hash"]):
                raise UnauthenticatedError(f"temporary credentials {key_id}: the secret does not match")
            verified[key_id] = (digest, now)
        role = self.get_role(m["role"])
        return Principal(f"assumed-role/{role.name}/{m['session_name']}", "role", [f"role/{role.name}"], m["created_at"])


def identity_policies(ws: Workspace, principal: Principal) -> dict[str, list[Statement]]:
    """Every identity policy that applies to ``principal``, labelled by where it comes from:
    its own (``DataScientist``), its groups' (``group/team/MLOps``), or for a role session the
    role's (``role/deployer/MLOps``)."""
    from forgeml.security._policy import PolicyStore

    store = ws.shared("security.policies", lambda: PolicyStore(ws))
    out: dict[str, list[Statement]] = {}
    for label in principal.policies:
        if label.startswith("role/"):
            role = RoleStore(ws).get_role(label[5:])
            out.update({f"{label}/{n}": s for n, s in store.statements(role.policies).items()})
        else:
            out.update(store.statements([label]))
    if principal.type != "role":
        for group in RoleStore(ws).groups_of(principal.name):
            out.update({f"group/{group.name}/{n}": s for n, s in store.statements(group.policies).items()})
    return out
