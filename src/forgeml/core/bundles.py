"""Uploaded folders (source bundles, model packages): safe extraction into the artifact store.

A bundle arrives as a ``.tar`` (optionally gzip, bzip2 or xz compressed) or ``.zip`` archive and
is stored as a folder artifact (:meth:`ArtifactStore.put_dir`), so it is addressed by its digest
(``artifact/<sha256>``) like every other artifact. Extraction keeps everything inside the target
folder: only regular files and folders are accepted (no symbolic or hard links, devices or
FIFOs), no absolute names and no ``..``; tar members also go through the standard library's
``data`` filter. The number of files and the bytes they expand to are capped, so a small
archive cannot fill the disk (a zip bomb).
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from forgeml.errors import PayloadTooLargeError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.records import ArtifactRecord
    from forgeml.core.workspace import Workspace

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """How large an archive may be once extracted."""

    max_bytes: int
    max_files: int

    @classmethod
    def of(cls, ws: Workspace) -> Limits:
        return cls(int(ws.settings.bundle_max_mb * 1024 * 1024), ws.settings.bundle_max_files)


@dataclass(frozen=True)
class Bundle:
    """A stored bundle: its folder artifact and what it holds."""

    artifact: ArtifactRecord
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.artifact.digest, "ref": self.artifact.ref, "files": self.files, "bytes": self.bytes}


class _Budget:
    def __init__(self, limits: Limits, label: str) -> None:
        self.limits, self.label = limits, label
        self.files = 0
        self.bytes = 0

    def add(self, name: str, size: int) -> None:
        self.files += 1
        self.bytes += max(size, 0)
        if self.files > self.limits.max_files:
            raise PayloadTooLargeError(f"{self.label}: more than {self.limits.max_files} files (bundle_max_files)")
        if self.bytes > self.limits.max_bytes:
            raise PayloadTooLargeError(f"{self.label}: {name} takes the contents past {self.limits.max_bytes} bytes (bundle_max_mb)")


def _safe_name(name: str, label: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name or (len(name) > 1 and name[1] == ":"):
        raise ValidationError(f"{label}: member {name!r} would land outside the bundle folder")
    return path


def _extract_tar(archive: Path, dest: Path, limits: Limits, label: str) -> _Budget:
    budget = _Budget(limits, label)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:  # one pass: a member's size is known before its bytes are read
                _safe_name(member.name, label)
                if not (member.isfile() or member.isdir()):
                    what = "link" if member.issym() or member.islnk() else "special file"
                    raise ValidationError(f"{label}: member {member.name!r} is a {what}; a bundle holds files and folders only")
                if member.isfile():
                    budget.add(member.name, member.size)
                tar.extract(member, dest, filter="data")
    except tarfile.FilterError as exc:
        raise ValidationError(f"{label}: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValidationError(f"{label}: not a readable tar archive ({type(exc).__name__}: {exc})") from None
    return budget


def _extract_zip(archive: Path, dest: Path, limits: Limits, label: str) -> _Budget:
    budget = _Budget(limits, label)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = _safe_name(info.filename, label)
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no Unix type
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    what = "link" if kind == stat.S_IFLNK else "special file"
                    raise ValidationError(f"{label}: member {info.filename!r} is a {what}; a bundle holds files and folders only")
                target = dest.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                budget.add(info.filename, info.file_size)
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > info.file_size:  # a member that expands past its declared size
                            raise PayloadTooLargeError(f"{label}: {info.filename} expands past its declared size")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method
        raise ValidationError(f"{label}: not a readable zip archive ({type(exc).__name__}: {exc})") from None
    return budget


def extract(archive: str | Path, dest: str | Path, limits: Limits, *, label: str = "bundle") -> tuple[int, int]:
    """Extract a tar (any compression) or zip archive into the empty folder ``dest``.

    Returns:
        ``(files, bytes)`` extracted.

    Raises:
        ValidationError: not an archive, an unsafe member (link, device, absolute or ``..``
            name), or no file at all; the message names the member.
        PayloadTooLargeError: more files or bytes than ``limits``.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with open(archive, "rb") as fh:
        magic = fh.read(4)
    is_zip = magic in (b"PK\x03\x04", b"PK\x05\x06")
    budget = (_extract_zip if is_zip else _extract_tar)(archive, dest, limits, label)
    if budget.files == 0:
        raise ValidationError(f"{label}: the archive holds no files")
    return budget.files, budget.bytes


def store(ws: Workspace, archive: str | Path, *, label: str = "bundle", marker: str | None = None) -> Bundle:
    """Extract ``archive`` safely and store the folder; the artifact is kept (not garbage
    collected) under the owner ``bundle/<digest>``.

    Args:
        marker: a file the folder must hold at its top (``MANIFEST.json`` for a model package);
            an archive that wraps everything in one folder holding it stores that folder.

    Raises:
        ValidationError, PayloadTooLargeError: as :func:`extract`; a missing ``marker``.
    """
    with tempfile.TemporaryDirectory(prefix="forgeml-bundle-") as tmp:
        folder = Path(tmp) / "bundle"
        files, size = extract(archive, folder, Limits.of(ws), label=label)
        if marker is not None and not (folder / marker).is_file():
            inner = list(folder.iterdir())
            if len(inner) == 1 and (inner[0] / marker).is_file():
                folder = inner[0]
            else:
                raise ValidationError(f"{label}: the archive holds no {marker} at its top")
        art = ws.artifacts.put_dir(folder)
        shutil.rmtree(folder, ignore_errors=True)
    ws.metadata.put_artifact(art, owner=f"bundle/{art.digest}")
    return Bundle(art, files, size)


def folder_digest(ws: Workspace, value: str, field: str) -> str:
    """The digest of a stored folder named ``<sha256>`` or ``artifact/<sha256>``.

    Raises:
        ValidationError: not a digest, or an artifact that is not a folder.
        NotFoundError: no such artifact.
    """
    import json
    import re

    digest = value.removeprefix("artifact/")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValidationError(f"{field}: expected an artifact digest (64 hex characters, from POST /bundles), got {value!r}")
    ws.metadata.get_artifact(digest)
    try:
        manifest = json.loads(ws.artifacts.read_bytes(digest))
    except (json.JSONDecodeError, UnicodeDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValidationError(f"{field}: artifact {digest} is not a folder (upload one with POST /bundles)")
    return digest


__all__ = ["Bundle", "Limits", "extract", "folder_digest", "store"]
