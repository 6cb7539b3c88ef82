"""Content-addressed artifact store over fsspec.

Bytes live at ``<root>/sha256/<aa>/<digest>``. Writes go to a temporary name and are renamed into
place, so a reader never sees half an artifact; reads re-hash and raise
:class:`~forgeml.errors.CorruptArtifactError` naming the artifact when the bytes changed. Folders
(model packages, checkpoints) are stored file by file under a JSON manifest that is itself an
artifact: a folder's digest is its manifest's digest.

With an :class:`~forgeml.security.Envelope` (``encryption_at_rest``) every new artifact is sealed
with a data key of its own before it leaves the process; the digest stays the sha256 of the
plaintext, so content addressing, deduplication and verification are unchanged, and reads open
sealed and (older) plain artifacts alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec

from forgeml.core.metadata import MetadataStore
from forgeml.core.records import ArtifactRecord
from forgeml.errors import CorruptArtifactError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.security import Envelope

_CHUNK = 1 << 20
MANIFEST_MEDIA_TYPE = "application/vnd.forgeml.manifest+json"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a local file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection removed."""

    deleted: list[str]
    freed_bytes: int


class ArtifactStore:
    """Store and fetch immutable blobs by sha256.

    Args:
        uri: a local path or any fsspec URL (``file:///...``, ``memory://...``, ``s3://...``).
        metadata: the metadata store where each artifact and its references are recorded.
        envelope: seals new artifacts at rest when given (reads open sealed ones either way).
    """

    def __init__(self, uri: str, metadata: MetadataStore, envelope: Envelope | None = None) -> None:
        self.uri = uri
        self.metadata = metadata
        self.envelope = envelope
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.root = root.rstrip("/")
        self._local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def resolve(self, digest: str) -> str:
        """The full sha256 of ``digest``: 64 hex characters, ``sha256:...``, ``artifact/...`` or a
        unique prefix of at least 4 (like git); see :func:`forgeml.core.refs.resolve_digest`.

        Raises:
            ValidationError: malformed, too short, or ambiguous (the candidates are listed).
            NotFoundError: no artifact starts with the prefix.
        """
        from forgeml.core.refs import resolve_digest

        return resolve_digest(self.metadata, digest)

    def _path(self, digest: str) -> str:
        return f"{self.root}/sha256/{digest[:2]}/{digest}"

    # writing ---------------------------------------------------------------------------------
    def put_file(self, path: str | Path, *, owner: str | None = None, media_type: str | None = None) -> ArtifactRecord:
        """Copy a local file into the store (no-op for bytes already there)."""
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"file {path} does not exist")
        digest = sha256_file(path)
        size = path.stat().st_size
        target = self._path(digest)
        if not self.fs.exists(target):
            tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            if self.envelope is None:
                self.fs.put_file(str(path), tmp)
            else:
                self._put_sealed(path, tmp, digest)
            self._rename(tmp, target)
        return self.metadata.put_artifact(
            ArtifactRecord(digest, size, media_type or "application/octet-stream"), owner=owner
        )

    def put_bytes(self, data: bytes, *, owner: str | None = None, media_type: str | None = None) -> ArtifactRecord:
        """Store bytes held in memory."""
        with tempfile.NamedTemporaryFile(delete=False) as fh:
            fh.write(data)
        try:
            return self.put_file(fh.name, owner=owner, media_type=media_type)
        finally:
            os.unlink(fh.name)

    def put_json(self, obj: Any, *, owner: str | None = None) -> ArtifactRecord:
        """Store a JSON document (keys sorted, so equal documents share a digest)."""
        data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        return self.put_bytes(data, owner=owner, media_type="application/json")

    def put_dir(self, path: str | Path, *, owner: str | None = None) -> ArtifactRecord:
        """Store a folder: every file, then a manifest ``{relative path: digest}``."""
        path = Path(path)
        if not path.is_dir():
            raise NotFoundError(f"folder {path} does not exist")
        files: dict[str, dict[str, Any]] = {}
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            rec = self.put_file(file, owner=owner)
            files[file.relative_to(path).as_posix()] = {"digest": rec.digest, "size": rec.size}
        manifest = json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()
        with tempfile.NamedTemporaryFile(delete=False) as fh:
            fh.write(manifest)
        try:
            return self.put_file(fh.name, owner=owner, media_type=MANIFEST_MEDIA_TYPE)
        finally:
            os.unlink(fh.name)

    def _put_sealed(self, path: Path, tmp: str, digest: str) -> None:
        assert self.envelope is not None
        if self._local:
            self.envelope.seal_file(path, tmp, f"artifact:{digest}")
            return
        with tempfile.TemporaryDirectory() as local:
            sealed = Path(local) / "sealed"
            self.envelope.seal_file(path, sealed, f"artifact:{digest}")
            self.fs.put_file(str(sealed), tmp)

    def _rename(self, tmp: str, target: str) -> None:
        if self._local:
            os.replace(tmp, target)
        else:
            self.fs.mv(tmp, target)

    # reading ---------------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        try:
            digest = self.resolve(digest)
        except NotFoundError:
            return False
        return bool(self.fs.exists(self._path(digest)))

    def _verified_chunks(self, digest: str) -> Iterator[bytes]:
        path = self._path(digest)
        if not self.fs.exists(path):
            raise NotFoundError(f"artifact {digest} is missing from {self.uri}")
        h = hashlib.sha256()
        with self.fs.open(path, "rb") as fh:
            for chunk in self._plain_chunks(fh, digest, path):
                h.update(chunk)
                yield chunk
        if h.hexdigest() != digest:
            raise CorruptArtifactError(
                f"artifact {digest} is corrupted: its bytes hash to {h.hexdigest()} ({path})"
            )

    def _plain_chunks(self, fh: Any, digest: str, path: str) -> Iterator[bytes]:
        from forgeml.security import MAGIC, is_sealed

        head = fh.read(len(MAGIC))
        if not is_sealed(head) or self._stored_in_plain(path, digest):
            yield head
            yield from iter(lambda: fh.read(_CHUNK), b"")
            return
        if self.envelope is None:
            raise ValidationError(
                f"artifact {digest} is encrypted: turn encryption_at_rest on (with its master key) to read it ({path})"
            )
        fh.seek(0)
        yield from self.envelope.open_chunks(fh, f"artifact:{digest}", f"artifact {digest} ({path})")

    def sealed_with(self, digest: str) -> str | None:
        """The master key id that sealed an artifact, or None for one stored in plain."""
        from forgeml.security import MAGIC, Envelope, is_sealed

        digest = self.resolve(digest)
        with self.fs.open(self._path(digest), "rb") as fh:
            if not is_sealed(fh.read(len(MAGIC))) or self._stored_in_plain(self._path(digest), digest):
                return None
            fh.seek(0)
            return Envelope.read_header(fh, f"artifact {digest}").key_id

    def _stored_in_plain(self, path: str, digest: str) -> bool:
        """Whether a file that starts like a sealed object is in fact plaintext that happens to
        begin with the envelope's magic bytes: its stored bytes hash to its own address (a sealed
        file's bytes never hash to the plaintext's digest)."""
        h = hashlib.sha256()
        with self.fs.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        return h.hexdigest() == digest

    def reencrypt(self, digest: str) -> bool:
        """Seal an artifact again under the alias's current key (plain ones too); False when it
        already is. The plaintext is verified first and the swap is one rename."""
        if self.envelope is None:
            raise ValidationError("re-encryption needs encryption_at_rest on")
        digest = self.resolve(digest)
        if self.sealed_with(digest) == self.envelope.provider.current(self.envelope.alias):
            return False
        with tempfile.TemporaryDirectory() as local:
            plain = self.get_file(digest, Path(local) / "plain")
            tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
            self._put_sealed(plain, tmp, digest)
            self._rename(tmp, self._path(digest))
        return True

    def read_bytes(self, digest: str) -> bytes:
        """The artifact's bytes, verified against its digest.

        Raises:
            NotFoundError: when the artifact is not in the store.
            CorruptArtifactError: when the stored bytes no longer match the digest.
        """
        return b"".join(self._verified_chunks(self.resolve(digest)))

    def read_json(self, digest: str) -> Any:
        return json.loads(self.read_bytes(digest))

    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Copy a verified artifact to ``dest``; a corrupt one leaves no file behind."""
        digest = self.resolve(digest)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with open(tmp, "wb") as out:
                for chunk in self._verified_chunks(digest):
                    out.write(chunk)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def get_dir(self, digest: str, dest: str | Path) -> Path:
        """Materialize a folder stored with :meth:`put_dir` into ``dest``."""
        digest = self.resolve(digest)
        manifest = self.read_json(digest)
        if not isinstance(manifest, dict) or "files" not in manifest:
            raise ValidationError(f"artifact {digest} is not a folder manifest")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for rel, info in manifest["files"].items():
            if rel.startswith("/") or ".." in Path(rel).parts:
                raise CorruptArtifactError(f"artifact {digest} names an unsafe path {rel!r}")
            self.get_file(info["digest"], dest / rel)
        return dest

    # housekeeping ----------------------------------------------------------------------------
    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Delete artifacts that no resource references and no lineage edge names.

        Folder manifests that are referenced keep the files they list alive.
        """
        unreferenced = {a.digest: a for a in self.metadata.list_artifacts(unreferenced_only=True)}
        if not unreferenced:
            return GcReport([], 0)
        keep: set[str] = set()
        for art in self.metadata.list_artifacts():
            if art.media_type == MANIFEST_MEDIA_TYPE and art.digest not in unreferenced:
                try:
                    keep.update(f["digest"] for f in self.read_json(art.digest)["files"].values())
                except (NotFoundError, CorruptArtifactError):
                    continue
        doomed = [a for d, a in unreferenced.items() if d not in keep]
        if not dry_run:
            for art in doomed:
                path = self._path(art.digest)
                if self.fs.exists(path):
                    self.fs.rm(path)
                self.metadata.delete_artifact(art.digest)
        return GcReport([a.digest for a in doomed], sum(a.size for a in doomed))


__all__ = ["MANIFEST_MEDIA_TYPE", "ArtifactStore", "GcReport", "sha256_file"]
