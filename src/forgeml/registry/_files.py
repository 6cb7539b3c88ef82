"""Reading a model package's files, each checked against a digest before it is used.

Two sources of digests:

* **the registry's** (``spec.files`` of a model version, or the artifact store's folder manifest
  of a deployed folder): computed by ForgeML when the package entered, over every file including
  the manifest. A file that differs, is missing or was added raises
  :class:`~forgeml.errors.CorruptArtifactError` naming it.
* **the package's own** (``files`` in ``forgeml-model.json``) when a folder is loaded by path: they
  only catch accidents (a truncated copy), since whoever writes the folder writes the manifest too.
  A mismatch raises :class:`~forgeml.errors.ValidationError`.

:meth:`PackageFiles.read_bytes` hashes the very bytes it returns, so what is unpickled or handed
to ONNX Runtime is what was checked, not a file that could change between the check and the load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from forgeml.errors import CorruptArtifactError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.registry.package import ModelManifest

MANIFEST = "forgeml-model.json"


def folder_digests(root: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (the manifest included)."""
    from forgeml.core.artifacts import sha256_file

    root = Path(root)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


class PackageFiles:
    """The files of one package folder, verified on read.

    Args:
        root: the package folder.
        digests: the registry's digests of every file; ``None`` checks against the manifest's own.
        origin: what to call the package in errors (``model/loans:3``); the folder by default.
    """

    def __init__(self, root: str | Path, digests: dict[str, str] | None = None, *, origin: str | None = None) -> None:
        self.root = Path(root)
        self.digests = dict(digests) if digests is not None else None
        self.origin = origin or str(self.root)
        self._manifest: ModelManifest | None = None

    @property
    def registered(self) -> bool:
        """Whether the files are checked against the registry's digests (not self-declared ones)."""
        return self.digests is not None

    def _where(self) -> str:
        return self.origin if self.origin == str(self.root) else f"{self.origin} (at {self.root})"

    def _changed(self, rel: str, why: str, *more: tuple[str, str]) -> CorruptArtifactError | ValidationError:
        """The error for changed files: ``rel`` and ``more`` with what is wrong with each."""
        problems = [(rel, why), *more]
        detail = "; ".join(f"{r} {w}" for r, w in problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        if self.registered:
            when = "registration" if self.origin.startswith("model/") else "ForgeML stored it"
            return CorruptArtifactError(f"model package {self._where()} was changed after {when}: {detail}; refusing to load it")
        return ValidationError(f"model package {self.root} is corrupted: {detail}")

    def _expected(self, rel: str) -> str | None:
        if self.digests is not None:
            if rel not in self.digests:
                raise self._changed(rel, "is not a file of the registered package")
            return self.digests[rel]
        if rel == MANIFEST:
            return None  # self-declared: nothing to check the manifest against
        files = self.manifest().files
        if rel not in files:
            raise self._changed(rel, "is not listed in its manifest")
        return files[rel]

    def read_bytes(self, rel: str) -> bytes:
        """The bytes of ``rel``, checked against its digest.

        Raises:
            CorruptArtifactError: (registry digests) the file differs from what was registered.
            ValidationError: (manifest digests) the file differs from its manifest, or is missing.
        """
        expected = self._expected(rel)
        try:
            data = (self.root / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise self._changed(rel, "is missing") from None
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise self._changed(rel, "does not match its sha256")
        return data

    def manifest(self) -> ModelManifest:
        """The package's manifest (verified when the registry's digests are known).

        Raises:
            NotFoundError: the folder holds no manifest (and no registry digests say it should).
            ValidationError: a malformed manifest.
        """
        if self._manifest is None:
            from forgeml.registry.package import ModelManifest

            if not self.registered and not (self.root / MANIFEST).is_file():
                raise NotFoundError(f"{self.root} is not a model package (no {MANIFEST})")
            raw = self.read_bytes(MANIFEST)
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValidationError(f"{self.root / MANIFEST} is malformed: {exc}") from None
            self._manifest = ModelManifest.from_dict(data)
        return self._manifest

    def verify_all(self) -> None:
        """Check every file: with registry digests also that none is missing or was added.

        Raises:
            CorruptArtifactError / ValidationError: as :meth:`read_bytes`, naming the first file.
        """
        from forgeml.core.artifacts import sha256_file

        if not self.root.is_dir():
            raise NotFoundError(f"model package folder {self.root} does not exist")
        problems: list[tuple[str, str]] = []
        if self.digests is None:
            expected = dict(self.manifest().files)
        else:
            expected = self.digests
            present = {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}
            problems += [(rel, "is not a file of the registered package") for rel in sorted(present - set(expected))]
        for rel, digest in expected.items():
            file = self.root / rel
            if not file.is_file():
                problems.append((rel, "is missing"))
            elif sha256_file(file) != digest:
                problems.append((rel, "does not match its sha256"))
        if problems:
            raise self._changed(*problems[0], *problems[1:])

__all__ = ["MANIFEST", "PackageFiles", "folder_digests"]
