"""The ``forgeml keys`` service: what is sealed under which key, rotation, re-encryption."""

from __future__ import annotations

import io
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from forgeml.errors import ForgeError, ValidationError
from forgeml.security._envelope import Envelope, is_sealed
from forgeml.security._seal import read_secret

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace


def _envelope(ws: Workspace) -> Envelope:
    env = ws.artifacts.envelope
    if env is None:
        raise ValidationError("encryption at rest is off: set encryption_at_rest (FORGEML_ENCRYPTION_AT_REST=true) first")
    return env


def _secrets(ws: Workspace) -> list[Any]:
    folder = ws.home / "secrets"
    return sorted(folder.glob("*.key")) if folder.is_dir() else []


def status(ws: Workspace) -> dict[str, Any]:
    """The provider, its keys and aliases, and how many artifacts each key seals (``plain``: none)."""
    by_key: Counter[str] = Counter()
    for art in ws.metadata.list_artifacts():
        try:
            by_key[ws.artifacts.sealed_with(art.digest) or "plain"] += 1
        except (ForgeError, FileNotFoundError):
            by_key["unreadable"] += 1
    secrets = {p.name: ("sealed" if is_sealed(p.read_bytes()[:8]) else "plain") for p in _secrets(ws)}
    env = ws.artifacts.envelope
    out: dict[str, Any] = {"encryption_at_rest": env is not None, "artifacts_by_key": dict(by_key), "secrets": secrets}
    if env is not None:
        out.update(env.provider.describe())
        out["alias"] = env.alias
        out["current"] = env.provider.current(env.alias)
    return out


def rotate(ws: Workspace, alias: str | None = None) -> dict[str, Any]:
    """A new key version behind ``alias`` (default: the one in force); old data stays readable,
    new writes under that alias use the new key."""
    env = _envelope(ws)
    alias = alias or env.alias
    previous = env.provider.current(alias)
    return {"alias": alias, "previous": previous, "current": env.provider.rotate(alias)}


def reencrypt(ws: Workspace) -> dict[str, Any]:
    """Seal every artifact and workspace secret under the alias's current key (plain ones too).

    Each object is verified, re-sealed to a temporary name and swapped in with one rename, so an
    interrupted run leaves every object readable and can simply run again. Artifacts that are
    missing or fail verification are left as they are and listed under ``failed``.
    """
    env = _envelope(ws)
    done = skipped = 0
    failed: dict[str, str] = {}
    for art in ws.metadata.list_artifacts():
        try:
            changed = ws.artifacts.reencrypt(art.digest)
        except ForgeError as exc:  # missing or corrupt: name it and go on with the rest
            failed[art.digest] = exc.message
            continue
        if changed:
            done += 1
        else:
            skipped += 1
    current = env.provider.current(env.alias)
    secrets = 0
    for path in _secrets(ws):
        stored = path.read_bytes()
        if is_sealed(stored) and Envelope.read_header(io.BytesIO(stored), str(path)).key_id == current:
            continue
        plain = read_secret(env, stored, path.stem, path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(env.seal_bytes(plain, f"secret:{path.stem}"))
        os.replace(tmp, path)
        secrets += 1
    return {"key": current, "artifacts_reencrypted": done, "artifacts_already_current": skipped,
            "secrets_reencrypted": secrets, "failed": failed}  # fmt: skip


__all__ = ["reencrypt", "rotate", "status"]
