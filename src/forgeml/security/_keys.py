"""Master keys (the KMS role): where they live, aliases, rotation, wrapping data keys.

A :class:`KeyProvider` holds master keys and never hands them out: it wraps and unwraps the
per-object data keys of :mod:`forgeml.security._envelope`. Three sources, picked by
:func:`key_provider`:

* a **key file** (``encryption_key_file``, default ``<home>/secrets/master-keys.json``, outside
  the artifact folder) of mode 0600 holding every key version and the aliases that point at them;
  a file that group or others can read is refused;
* the **environment**: ``FORGEML_MASTER_KEY`` holds one or more base64 keys separated by commas;
  the first encrypts new data, every one decrypts (rotate by putting the new key first);
* a **plug-in**: ``encryption_key_provider`` names an entry point in the ``forgeml.key_providers``
  group, a callable taking the :class:`~forgeml.settings.Settings` and returning a KeyProvider
  (an HSM, Vault or a cloud KMS).

Data keys are wrapped with AES-256-GCM under the master key, with the key id and the caller's
context (``artifact:<digest>``) as associated data, so a wrapped key moved to another object or
relabelled with another key id fails to unwrap.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ForbiddenError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.settings import Settings

ENTRY_POINT_GROUP = "forgeml.key_providers"
ENV_VAR = "FORGEML_MASTER_KEY"
_NONCE = 12


class KeyProvider(ABC):
    """Holds master keys; wraps and unwraps data keys. Implement this in a key-provider plug-in."""

    @abstractmethod
    def current(self, alias: str) -> str:
        """The key id that ``alias`` points at now (new data is encrypted under it)."""

    @abstractmethod
    def wrap(self, key_id: str, data_key: bytes, context: str) -> bytes:
        """``data_key`` encrypted under master key ``key_id``, bound to ``context``."""

    @abstractmethod
    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes:
        """The data key back.

        Raises:
            NotFoundError: the provider holds no key ``key_id``.
            ValidationError: the wrapped key was altered or belongs to another context.
        """

    def rotate(self, alias: str) -> str:
        """Make a new key version, point ``alias`` at it and return its id (old ones stay)."""
        raise ValidationError(f"the {type(self).__name__} key provider cannot rotate keys here; rotate them where they are kept")

    def describe(self) -> dict[str, Any]:
        """What the provider holds: key ids, creation times, aliases (never key material)."""
        return {"provider": type(self).__name__}


def _aesgcm_wrap(master: bytes, key_id: str, data_key: bytes, context: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master).encrypt(nonce, data_key, f"{key_id}\n{context}".encode())


def _aesgcm_unwrap(master: bytes, key_id: str, wrapped: bytes, context: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], f"{key_id}\n{context}".encode())
    except (InvalidTag, ValueError):
        raise ValidationError(f"the data key of {context} does not unwrap under master key {key_id}: it was altered or moved") from None


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise ValidationError(f"{where}: a master key must be base64 (32 bytes); make one with `forgeml keys generate`") from None
    if len(raw) != 32:
        raise ValidationError(f"{where}: a master key must be 32 bytes (AES-256), got {len(raw)}")
    return raw


def fingerprint(material: bytes) -> str:
    """A key id derived from the key itself (environment keys have no other name)."""
    return "env-" + hashlib.sha256(b"forgeml-key-id\n" + material).hexdigest()[:16]


class EnvKeyProvider(KeyProvider):
    """Master keys from ``FORGEML_MASTER_KEY``: the first encrypts, all decrypt."""

    def __init__(self, value: str) -> None:
        parts = [p for p in value.split(",") if p.strip()]
        if not parts:
            raise ValidationError(f"{ENV_VAR} is set but empty")
        self._keys = {fingerprint(k): k for k in (_decode_key(p, ENV_VAR) for p in parts)}
        self._first = next(iter(self._keys))

    def current(self, alias: str) -> str:
        return self._first

    def _key(self, key_id: str) -> bytes:
        if key_id not in self._keys:
            raise NotFoundError(f"master key {key_id} is not among the keys in {ENV_VAR}")
        return self._keys[key_id]

    def wrap(self, key_id: str, data_key: bytes, context: str) -> bytes:
        return _aesgcm_wrap(self._key(key_id), key_id, data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes:
        return _aesgcm_unwrap(self._key(key_id), key_id, wrapped, context)

    def describe(self) -> dict[str, Any]:
        return {"provider": "environment", "source": ENV_VAR, "current": self._first,
                "keys": [{"id": k, "current": k == self._first} for k in self._keys]}  # fmt: skip


def check_permissions(path: Path) -> None:
    """Refuse a key file that anyone but its owner can read or write.

    Raises:
        ForbiddenError: naming the file, its mode and the fix.
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ForbiddenError(
            f"key file {path} has mode {mode:04o}: a master key file must be readable by its owner only "
            f"(run `chmod 600 {path}`)"
        )


class FileKeyProvider(KeyProvider):
    """Master keys in a JSON key file of mode 0600: ``{"keys": {id: {...}}, "aliases": {name: id}}``.

    The file is created (with one key under ``alias``) the first time something is encrypted.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.create = create
        self._cached: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"keys": {}, "aliases": {}}
        check_permissions(self.path)
        st = self.path.stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
            if not isinstance(data.get("keys"), dict) or not isinstance(data.get("aliases"), dict):
                raise ValueError("keys and aliases must be mappings")
        except (ValueError, AttributeError) as exc:
            raise ValidationError(f"key file {self.path} is not a ForgeML key file: {exc}") from None
        self._cached = (stamp, data)
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self._cached = None
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    @staticmethod
    def _new_key(data: dict[str, Any], alias: str) -> str:
        key_id = f"k-{int(time.time())}-{os.urandom(4).hex()}"
        data["keys"][key_id] = {"material": base64.b64encode(os.urandom(32)).decode(), "alias": alias,
                                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "seq": 1 + max((int(k.get("seq", 0)) for k in data["keys"].values()), default=0)}  # fmt: skip
        data["aliases"][alias] = key_id
        return key_id

    def current(self, alias: str) -> str:
        data = self._load()
        if alias in data["aliases"]:
            return str(data["aliases"][alias])
        if not self.create:
            raise NotFoundError(f"key alias {alias!r} is not in key file {self.path}")
        with self._locked():
            data = self._load()
            if alias not in data["aliases"]:
                self._new_key(data, alias)
                self._save(data)
            return str(data["aliases"][alias])

    def _key(self, key_id: str) -> bytes:
        entry = self._load()["keys"].get(key_id)
        if entry is None:
            raise NotFoundError(f"master key {key_id} is not in key file {self.path}")
        return _decode_key(entry["material"], f"key file {self.path}, key {key_id}")

    def wrap(self, key_id: str, data_key: bytes, context: str) -> bytes:
        return _aesgcm_wrap(self._key(key_id), key_id, data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: str) -> bytes:
        return _aesgcm_unwrap(self._key(key_id), key_id, wrapped, context)

    def rotate(self, alias: str) -> str:
        with self._locked():
            data = self._load()
            key_id = self._new_key(data, alias)
            self._save(data)
        return key_id

    def describe(self) -> dict[str, Any]:
        data = self._load()
        current = set(data["aliases"].values())
        keys = [{"id": k, "alias": v.get("alias"), "created": v.get("created"), "current": k in current}
                for k, v in sorted(data["keys"].items(), key=lambda kv: int(kv[1].get("seq", 0)))]  # fmt: skip
        return {"provider": "key-file", "source": str(self.path), "aliases": dict(data["aliases"]), "keys": keys}


def _plugin(name: str, settings: Settings) -> KeyProvider:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ValidationError(f"encryption_key_provider {name!r}: no entry point of that name in group {ENTRY_POINT_GROUP}")
    provider = found[0].load()(settings)
    if not isinstance(provider, KeyProvider):
        raise ValidationError(f"encryption_key_provider {name!r} returned {type(provider).__name__}, not a KeyProvider")
    return provider


def key_file_path(settings: Settings) -> Path:
    """The master key file in force (a setting, else ``<home>/secrets/master-keys.json``)."""
    path = settings.encryption_key_file or settings.resolved_home / "secrets" / "master-keys.json"
    return path.expanduser().resolve()


def key_provider(settings: Settings, environ: dict[str, str] | None = None) -> KeyProvider:
    """The provider the settings pick: a plug-in, else ``FORGEML_MASTER_KEY``, else the key file."""
    env = os.environ if environ is None else environ
    if settings.encryption_key_provider:
        return _plugin(settings.encryption_key_provider, settings)
    if env.get(ENV_VAR):
        return EnvKeyProvider(env[ENV_VAR])
    path = key_file_path(settings)
    artifacts = Path(settings.resolved_artifact_uri).expanduser().resolve() if "://" not in settings.resolved_artifact_uri else None
    if artifacts is not None and path.is_relative_to(artifacts):
        raise ValidationError(f"key file {path} lies inside the artifact folder {artifacts}: keep master keys apart from the data")
    return FileKeyProvider(path)


__all__ = ["ENTRY_POINT_GROUP", "ENV_VAR", "EnvKeyProvider", "FileKeyProvider", "KeyProvider", "check_permissions",
           "fingerprint", "key_file_path", "key_provider"]  # fmt: skip
