"""The shared hook the stores call: the envelope the settings ask for, and small helpers to
seal files and secrets written outside the artifact store (data capture, the PII key)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from forgeml.security._envelope import MAGIC, Envelope, is_sealed

if TYPE_CHECKING:
    from forgeml.settings import Settings


def envelope_for(settings: Settings) -> Envelope | None:
    """The envelope sealing data at rest, or None when ``encryption_at_rest`` is off."""
    if not settings.encryption_at_rest:
        return None
    from forgeml.security._keys import key_provider

    return Envelope(key_provider(settings), settings.encryption_key_alias)


def capture_envelope() -> Envelope | None:
    """The envelope of a server process configured through ``FORGEML_*`` variables (an endpoint
    server gets the workspace's settings that way), for its data capture files."""
    from forgeml.settings import load_settings

    envelope = envelope_for(load_settings())
    if envelope is not None:
        envelope.provider.current(envelope.alias)  # a key problem stops the server at start, not mid-traffic
    return envelope


def seal_secret(envelope: Envelope | None, secret: bytes, name: str) -> bytes:
    """How a workspace secret (the PII tokenization key) is kept on disk: sealed when on."""
    return secret if envelope is None else envelope.seal_bytes(secret, f"secret:{name}")


def read_secret(envelope: Envelope | None, stored: bytes, name: str, path: Path) -> bytes:
    """A stored workspace secret back (sealed or, from before encryption was on, plain)."""
    if not is_sealed(stored):
        return stored
    if envelope is None:
        from forgeml.errors import ValidationError

        raise ValidationError(f"secret {path} is encrypted: turn encryption_at_rest on (with its master key) to use it")
    return envelope.open_bytes(stored, f"secret:{name}", f"secret {path}")


def open_sealed(envelope: Envelope | None, path: str | os.PathLike[str], context: str) -> bytes:
    """A whole file's plaintext, whether it was sealed or written plain."""
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC))
        fh.seek(0)
        if not is_sealed(head):
            return fh.read()
        if envelope is None:
            from forgeml.errors import ValidationError

            raise ValidationError(f"{path} is encrypted: turn encryption_at_rest on (with its master key) to read it")
        return b"".join(envelope.open_chunks(fh, context, str(path)))





_PRIVATE: dict[str, Path] = {}


def _sweep(tmp: Path) -> None:
    """Remove working-copy folders of processes that are gone (killed, or forked job processes
    that end with ``os._exit`` and so skip ``atexit``)."""
    import shutil

    for folder in tmp.glob("forgeml-plain-*-*"):
        try:
            pid = int(folder.name.split("-")[2])
            if folder.stat().st_uid != os.getuid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError):
            continue


def plain_cache(default: Path, envelope: Envelope | None) -> Path:
    """Where decrypted working copies go: ``default`` (the workspace cache) when encryption is
    off; with it on, a folder private to this process (mode 0700, removed at exit, or by the next
    ForgeML process once this one is gone), so the workspace never holds plaintext of sealed data
    at rest."""
    if envelope is None:
        return default
    import atexit
    import shutil
    import tempfile

    key = f"{os.getpid()}:{default}"  # a forked child gets a folder of its own, not its parent's
    if key not in _PRIVATE:
        _sweep(Path(tempfile.gettempdir()))
        folder = Path(tempfile.mkdtemp(prefix=f"forgeml-plain-{os.getpid()}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _PRIVATE[key] = folder
    path = _PRIVATE[key]
    path.mkdir(mode=0o700, exist_ok=True)
    return path
__all__ = ["capture_envelope", "envelope_for", "open_sealed", "plain_cache", "plain_copy", "read_secret", "seal_secret"]


def plain_copy(envelope: Envelope, sealed: Path, cache: Path, rel: str, context: str) -> Path:
    """A decrypted working copy of the immutable sealed file ``sealed`` at ``cache/rel``
    (made once per process; a plain file from before encryption was on is used in place)."""
    import uuid

    with open(sealed, "rb") as fh:
        if not is_sealed(fh.read(len(MAGIC))):
            return sealed
    target = cache / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(sealed, "rb") as fh, open(tmp, "wb") as out:
                for chunk in envelope.open_chunks(fh, context, str(sealed)):
                    out.write(chunk)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target
