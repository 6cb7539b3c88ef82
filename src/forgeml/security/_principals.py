"""Principals (users, service accounts) and their API keys, kept in the metadata store.

An API key is an access key id (``FKIA`` + 16 characters, public, like AWS's ``AKIA...``) and a
secret shown once when the key is made. Only a salted scrypt hash of the secret is stored
(``hashlib.scrypt``, n=2**14, r=8, p=1). A key has a status (``Active``, ``Inactive``,
``Revoked``), an optional expiry and the time it was last used. Rotation is AWS's: make a
second key, move clients to it, revoke the first (a principal holds at most two live keys).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from forgeml.errors import AlreadyExistsError, NotFoundError, UnauthenticatedError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.metadata import SqlMetadataStore
    from forgeml.core.workspace import Workspace

_meta = sa.MetaData()
principals = sa.Table(
    "security_principals",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
keys = sa.Table(
    "security_keys",
    _meta,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("principal", sa.String(128), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
)

TYPES = ("user", "service")
MAX_LIVE_KEYS = 2
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+=-]{0,127}")
_KEY_ID = re.compile(r"F[KS]IA[A-Z2-7]{16}")  # FKIA: an API key; FSIA: a role session's (security/_roles.py)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
LAST_USED_EVERY = 60.0  # seconds between writes of a key's last use


def sql_store(ws: Workspace) -> SqlMetadataStore:
    """The workspace's metadata store as the SQL store whose transactions the security tables use."""
    return cast("SqlMetadataStore", ws.metadata)


def scrypt_hash(secret: str, salt: bytes) -> str:
    """The hex scrypt hash of ``secret`` with ``salt``."""
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()


@dataclass
class Principal:
    """A user or service account and the names of the policies attached to it."""

    name: str
    type: str
    policies: list[str] = field(default_factory=list)
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ApiKey:
    """An access key's public record (never the secret nor its hash)."""

    key_id: str
    principal: str
    status: str
    created_at: float
    expires_at: float | None = None
    last_used_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NewKey:
    """A key just made: the only time its secret is known."""

    key: ApiKey
    secret: str

    @property
    def credential(self) -> str:
        """``AKID:SECRET``, what a client sends."""
        return f"{self.key.key_id}:{self.secret}"


def parse_credential(text: str) -> tuple[str, str]:
    """``AKID:SECRET`` as its two parts.

    Raises:
        UnauthenticatedError: not of that form.
    """
    key_id, sep, secret = text.strip().partition(":")
    if not sep or not _KEY_ID.fullmatch(key_id) or not secret:
        raise UnauthenticatedError("the credential is not 'ACCESS_KEY_ID:SECRET' (an access key id starts with FKIA, temporary credentials with FSIA)")
    return key_id, secret


class PrincipalStore:
    """Principals and keys over the workspace's metadata database."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._verified: dict[str, tuple[bytes, float]] = {}  # key id -> (sha256 of secret, when)

    # principals --------------------------------------------------------------------------
    def create_principal(self, name: str, type: str = "user", policies: list[str] | None = None) -> Principal:
        """Add a user or service account with managed or stored policies attached.

        Raises:
            ValidationError: a bad name, type or unknown policy.
            AlreadyExistsError: the name is taken.
        """
        from forgeml.security._policy import PolicyStore

        if not _NAME.fullmatch(name or ""):
            raise ValidationError(f"principal name {name!r}: 1-128 letters, digits or _.@+=- starting with a letter or digit")
        if type not in TYPES:
            raise ValidationError(f"principal type {type!r}: expected one of {', '.join(TYPES)}")
        attached = list(dict.fromkeys(policies or []))
        store = PolicyStore(self.ws)
        for policy in attached:
            store.get(policy)  # NotFoundError names it
        record = Principal(name, type, attached, time.time())
        with sql_store(self.ws).transaction() as conn:
            if conn.execute(sa.select(principals.c.name).where(principals.c.name == name)).first():
                raise AlreadyExistsError(f"principal {name!r} already exists")
            conn.execute(principals.insert().values(**record.to_dict()))
        return record

    def get_principal(self, name: str) -> Principal:
        with sql_store(self.ws).read_transaction() as conn:
            row = conn.execute(sa.select(principals).where(principals.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no principal {name!r} (forgeml auth create-user makes one)")
        return Principal(**dict(row._mapping))

    def list_principals(self) -> list[Principal]:
        with sql_store(self.ws).read_transaction() as conn:
            rows = conn.execute(sa.select(principals).order_by(principals.c.name)).all()
        return [Principal(**dict(r._mapping)) for r in rows]

    def attach(self, name: str, policy: str) -> Principal:
        """Attach a managed or stored policy to a principal."""
        from forgeml.security._policy import PolicyStore

        PolicyStore(self.ws).get(policy)
        current = self.get_principal(name)
        if policy not in current.policies:
            current.policies.append(policy)
            with sql_store(self.ws).transaction() as conn:
                conn.execute(principals.update().where(principals.c.name == name).values(policies=current.policies))
        return current

    # keys --------------------------------------------------------------------------------
    def create_key(self, principal: str, *, expires_in_days: float | None = None) -> NewKey:
        """Make an access key for ``principal``; its secret is in the answer and nowhere else.

        Raises:
            NotFoundError: no such principal.
            ConflictError: it holds two live keys already (revoke one first: rotation).
        """
        from forgeml.errors import ConflictError

        self.get_principal(principal)
        if expires_in_days is not None and not expires_in_days > 0:
            raise ValidationError(f"--expires-in-days: {expires_in_days} is not a positive number of days")
        now = time.time()
        key_id = "FKIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)
        salt = secrets.token_bytes(16)
        record = ApiKey(key_id, principal, "Active", now, None if expires_in_days is None else now + expires_in_days * 86400)
        with sql_store(self.ws).transaction() as conn:
            live = conn.execute(
                sa.select(sa.func.count()).select_from(keys).where(keys.c.principal == principal, keys.c.status != "Revoked")
            ).scalar_one()
            if live >= MAX_LIVE_KEYS:
                raise ConflictError(f"principal {principal!r} holds {live} live keys already; revoke one first (rotation)")
            conn.execute(keys.insert().values(**record.to_dict(), salt=salt.hex(), hash=scrypt_hash(secret, salt)))
        return NewKey(record, secret)

    def list_keys(self, principal: str | None = None) -> list[ApiKey]:
        query = sa.select(*(keys.c[f] for f in ApiKey.__dataclass_fields__)).order_by(keys.c.created_at)
        if principal is not None:
            query = query.where(keys.c.principal == principal)
        with sql_store(self.ws).read_transaction() as conn:
            return [ApiKey(**dict(r._mapping)) for r in conn.execute(query).all()]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key for good (it answers 401 from the next request on).

        Raises:
            NotFoundError: no such key.
        """
        with sql_store(self.ws).transaction() as conn:
            done = conn.execute(keys.update().where(keys.c.key_id == key_id).values(status="Revoked")).rowcount
        if not done:
            raise NotFoundError(f"no access key {key_id!r}")
        self._verified.pop(key_id, None)
        return next(k for k in self.list_keys() if k.key_id == key_id)

    def any_active_key(self) -> bool:
        now = time.time()
        with sql_store(self.ws).read_transaction() as conn:
            query = sa.select(keys.c.key_id).where(
                keys.c.status == "Active", sa.or_(keys.c.expires_at.is_(None), keys.c.expires_at > now)
            )
            return conn.execute(query.limit(1)).first() is not None

    def authenticate(self, credential: str, *, cache_seconds: float = 0.0) -> Principal:
        """The principal whose live key ``credential`` (``AKID:SECRET``) is.

        The key's status and expiry are read on every call; the scrypt check is skipped for a
        secret verified in the last ``cache_seconds`` (compared as a SHA-256, in constant time).

        Raises:
            UnauthenticatedError: malformed, unknown, wrong secret, revoked, inactive or expired.

        Temporary credentials of a role session (``FSIA...``) answer the session's principal.
        """
        key_id, secret = parse_credential(credential)
        if key_id.startswith("FSIA"):
            from forgeml.security._roles import RoleStore

            return RoleStore(self.ws).authenticate_session(key_id, secret, self._verified, cache_seconds)
        with sql_store(self.ws).read_transaction() as conn:
            row = conn.execute(sa.select(keys).where(keys.c.key_id == key_id)).first()
        if row is None:
            raise UnauthenticatedError(f"access key {key_id} is not known")
        m = row._mapping
        now = time.time()
        if m["status"] != "Active":
            raise UnauthenticatedError(f"access key {key_id} is {m['status'].lower()}")
        if m["expires_at"] is not None and m["expires_at"] <= now:
            raise UnauthenticatedError(f"access key {key_id} expired")
        digest = hashlib.sha256(secret.encode()).digest()
        cached = self._verified.get(key_id)
        if not (cached and now - cached[1] < cache_seconds and hmac.compare_digest(cached[0], digest)):
            if not hmac.compare_digest(scrypt_hash(secret, bytes.fromhex(m["salt"])), m["hash"]):
                raise UnauthenticatedError(f"access key {key_id}: the secret does not match")
            self._verified[key_id] = (digest, now)
        if m["last_used_at"] is None or now - m["last_used_at"] > LAST_USED_EVERY:
            with sql_store(self.ws).transaction() as conn:
                conn.execute(keys.update().where(keys.c.key_id == key_id).values(last_used_at=now))
        return self.get_principal(m["principal"])
