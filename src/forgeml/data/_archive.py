"""Export and import datasets as checksummed archives, for offline transfer (the Snowball role).

An archive is a tar file (gzip-compressed when its name ends in ``.gz``) holding
``manifest.json`` and each exported version's Parquet bytes under ``versions/<n>/``. The manifest
lists every file's sha256 and size, and each version's record (schema, row count, content hash,
provenance). Next to the archive goes ``<archive>.sha256`` in ``sha256sum`` format.

Import checks everything before writing anything: the archive's own checksum (when the
``.sha256`` file is there), that no member escapes the archive or is a link, every file's
checksum, and that the rows of every version hash to the content hash recorded at export. Only
then are the versions created, with their original version numbers; if one fails, the ones
already created are removed again.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.artifacts import sha256_file
from forgeml.core.records import ResourceRecord
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.data._datasets import DatasetService

FORMAT = "forgeml-dataset-archive"
FORMAT_VERSION = 1


def _mode(path: Path, write: bool) -> str:
    comp = "gz" if path.name.endswith((".gz", ".tgz")) else ""
    return ("w:" if write else "r:") + comp


def export_dataset(datasets: DatasetService, name: str, path: str | Path, *, versions: list[int] | None = None) -> dict[str, Any]:
    """Write versions of ``name`` (all by default) to an archive at ``path``; return its manifest.

    Raises:
        NotFoundError: the dataset or a version does not exist.
    """
    path = Path(path)
    records = sorted(datasets.versions(name), key=lambda r: r.version)
    if versions:
        wanted = set(versions)
        records = [r for r in records if r.version in wanted]
        if missing := wanted - {r.version for r in records}:
            raise NotFoundError(f"dataset {name!r} has no version(s) {', '.join(map(str, sorted(missing)))}")
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "dataset": name,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": [],
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with tarfile.open(tmp, _mode(path, True)) as tar:
        for rec in records:
            local = datasets.local_path(name, rec.version)
            files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
            entry: dict[str, Any] = {"version": rec.version, "spec": rec.spec, "data": rec.data, "tags": rec.tags, "files": {}}
            for file in files:
                rel = "data.parquet" if local.is_file() else "data/" + file.relative_to(local).as_posix()
                arcname = f"versions/{rec.version}/{rel}"
                tar.add(file, arcname=arcname, recursive=False)
                entry["files"][rel] = {"sha256": sha256_file(file), "size": file.stat().st_size}
            manifest["versions"].append(entry)
        blob = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mtime = len(blob), int(time.time())
        import io

        tar.addfile(info, io.BytesIO(blob))
    tmp.replace(path)
    digest = sha256_file(path)
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return {**manifest, "archive": str(path), "sha256": digest}


def _safe_members(tar: tarfile.TarFile, where: str) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise ValidationError(f"{where}: unsafe archive member {m.name!r}")
    return members


def read_archive(path: str | Path, dest: Path) -> dict[str, Any]:
    """Verify an archive completely and unpack it into ``dest``; return its manifest.

    Raises:
        NotFoundError: no archive at ``path``.
        ValidationError: a checksum does not match, not a dataset archive, or an unsafe member.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no archive at {path}")
    side = Path(f"{path}.sha256")
    if side.is_file():
        expected = side.read_text().split()[0] if side.read_text().strip() else ""
        if (actual := sha256_file(path)) != expected:
            raise ValidationError(f"{path}: archive checksum {actual} does not match {side.name} ({expected})")
    try:
        with tarfile.open(path, "r:*") as tar:
            _safe_members(tar, str(path))
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValidationError(f"{path}: not a readable archive: {str(exc).splitlines()[0]}") from None
    try:
        manifest = json.loads((dest / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path}: no readable manifest.json: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ValidationError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} archive")
    for entry in manifest["versions"]:
        for rel, info in entry["files"].items():
            file = dest / "versions" / str(entry["version"]) / rel
            if not file.is_file():
                raise ValidationError(f"{path}: version {entry['version']} file {rel} is missing")
            if sha256_file(file) != info["sha256"] or file.stat().st_size != info["size"]:
                raise ValidationError(f"{path}: version {entry['version']} file {rel} fails its checksum")
    return manifest


def import_dataset(datasets: DatasetService, path: str | Path, *, name: str | None = None) -> list[ResourceRecord]:
    """Import every version in the archive at ``path`` (as dataset ``name`` if given).

    Raises:
        AlreadyExistsError: the target dataset exists already.
        ValidationError: a checksum or content hash does not match.
    """
    from forgeml.core.jobs import validate_name
    from forgeml.data import _tables
    from forgeml.data._datasets import KIND, _load

    with tempfile.TemporaryDirectory() as tmp:
        manifest = read_archive(path, Path(tmp))
        target = validate_name(name or manifest["dataset"], "dataset name")
        if datasets.ws.metadata.list_resources(KIND, name=target):
            raise AlreadyExistsError(f"dataset {target!r} exists already; import under another name")
        staged = []
        for entry in sorted(manifest["versions"], key=lambda e: e["version"]):
            folder = Path(tmp) / "versions" / str(entry["version"])
            data = dict(entry["data"])
            local = folder / "data.parquet" if data.get("layout", "file") == "file" else folder / "data"
            schema = _tables.decode_schema(data["arrow_schema_b64"])
            got = _tables.content_hash(_load(local, schema, data.get("partition_by"), None))
            if got != data.get("content_hash"):
                raise ValidationError(f"{path}: version {entry['version']} rows hash to {got}, not {data.get('content_hash')}")
            staged.append((entry, data, local))
        created: list[ResourceRecord] = []
        archive_digest = sha256_file(path)
        try:
            for entry, data, local in staged:
                art = datasets.ws.artifacts.put_file(local) if local.is_file() else datasets.ws.artifacts.put_dir(local)
                original = f"{KIND}/{manifest['dataset']}:{entry['version']}"
                data.update(artifact=art.digest, bytes=art.size, quarantine=None,
                            imported_from={"archive": Path(path).name, "sha256": archive_digest, "ref": original,
                                           "exported_at": manifest["exported_at"]})  # fmt: skip
                if data.get("parent"):
                    data["parent"] = f"{KIND}/{target}:{data['parent'].rsplit(':', 1)[1]}"
                rec = datasets.ws.metadata.create_resource(ResourceRecord(
                    kind=KIND, name=target, version=entry["version"], status="Available",
                    spec=entry["spec"], data=data, tags=entry["tags"],
                ))  # fmt: skip
                created.append(rec)
                datasets.ws.metadata.put_artifact(art, owner=rec.ref)
                datasets.ws.lineage.record(f"artifact/{art.digest}", rec.ref, "stored-as")
                datasets.ws.lineage.record(f"archive/{archive_digest}", rec.ref, "imported-from")
                if data.get("parent") and data.get("mode") in ("append", "upsert"):
                    datasets.ws.lineage.record(data["parent"], rec.ref, "appended-to")
        except BaseException:
            for rec in created:
                datasets.ws.metadata.delete_resource(KIND, rec.name, rec.version)
            raise
        return created


__all__ = ["FORMAT", "FORMAT_VERSION", "export_dataset", "import_dataset", "read_archive"]
