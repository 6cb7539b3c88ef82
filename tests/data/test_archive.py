"""Dataset archives for offline transfer: round trip, checksums, tampering, conflicts, REST."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.settings import load_settings


@pytest.fixture
def other(tmp_path: Path, ws: Workspace) -> Workspace:
    """A second, independent workspace (the machine on the other side of the transfer)."""
    workspace = Workspace(load_settings(home=str(tmp_path / "other")))
    yield workspace  # type: ignore[misc]
    workspace.close()


def make_versions(ws: Workspace) -> None:
    ws.datasets.create("loans", pd.DataFrame({"id": [1, 2, 3], "day": ["d1", "d2", "d1"], "amt": [1.0, None, 3.5]}))
    ws.datasets.create("loans", pd.DataFrame({"id": [4], "day": ["d3"], "amt": [4.0]}), mode="append", partition_by="day")


def rewrite(src: Path, dest: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Copy a tar archive member by member, letting ``change(name, bytes)`` alter contents."""
    with tarfile.open(src, "r:*") as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
            data = change(m.name, data)
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


def test_round_trip_keeps_versions_rows_and_hashes(ws: Workspace, other: Workspace, tmp_path: Path) -> None:
    make_versions(ws)
    out = ws.datasets.export("loans", tmp_path / "loans.tar.gz")
    archive = tmp_path / "loans.tar.gz"
    assert out["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (tmp_path / "loans.tar.gz.sha256").read_text() == f"{out['sha256']}  loans.tar.gz\n"
    imported = other.datasets.import_archive(archive)
    assert [r.version for r in imported] == [1, 2]
    for v in (1, 2):
        pd.testing.assert_frame_equal(other.datasets.read("loans", v), ws.datasets.read("loans", v))
        assert other.datasets.get("loans", v).data["content_hash"] == ws.datasets.get("loans", v).data["content_hash"]
    assert other.datasets.get("loans", 2).data["layout"] == "hive"
    assert other.datasets.get("loans", 2).data["imported_from"]["ref"] == "dataset/loans:2"
    srcs = {(e.src, e.relation) for e in other.metadata.list_edges(dst="dataset/loans:2")}
    assert (f"archive/{out['sha256']}", "imported-from") in srcs and ("dataset/loans:1", "appended-to") in srcs
    with pytest.raises(AlreadyExistsError, match="dataset 'loans' exists already"):
        other.datasets.import_archive(archive)
    renamed = other.datasets.import_archive(archive, name="loans-copy")
    assert renamed[1].data["parent"] == "dataset/loans-copy:1"


def test_export_one_version(ws: Workspace, other: Workspace, tmp_path: Path) -> None:
    make_versions(ws)
    ws.datasets.export("loans", tmp_path / "v2.tar", versions=[2])
    assert [r.version for r in other.datasets.import_archive(tmp_path / "v2.tar")] == [2]
    with pytest.raises(NotFoundError, match=r"has no version\(s\) 7"):
        ws.datasets.export("loans", tmp_path / "x.tar", versions=[7])


def _manifest_with(data: bytes, digest_of: dict[str, bytes]) -> bytes:
    manifest = json.loads(data)
    for entry in manifest["versions"]:
        for rel in entry["files"]:
            key = f"versions/{entry['version']}/{rel}"
            if key in digest_of:
                entry["files"][rel] = {"sha256": hashlib.sha256(digest_of[key]).hexdigest(), "size": len(digest_of[key])}
    return json.dumps(manifest).encode()


def _other_parquet() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"id": [9, 9, 9], "day": ["x", "x", "x"], "amt": [0.0, 0.0, 0.0]}).to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize("case", ["archive-bytes", "member", "member-and-manifest", "unsafe-path", "not-a-tar"])
def test_tampered_archives_are_refused_and_write_nothing(ws: Workspace, other: Workspace, tmp_path: Path, case: str) -> None:
    make_versions(ws)
    good = tmp_path / "good.tar.gz"
    ws.datasets.export("loans", good, versions=[1])
    bad = tmp_path / "bad.tar.gz"
    member = "versions/1/data.parquet"
    if case == "archive-bytes":
        blob = bytearray(good.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        bad.write_bytes(bytes(blob))
        (tmp_path / "bad.tar.gz.sha256").write_text((tmp_path / "good.tar.gz.sha256").read_text())
        message = "archive checksum"
    elif case == "member":
        rewrite(good, bad, lambda n, d: _other_parquet() if n == member else d)
        message = "version 1 file data.parquet fails its checksum"
    elif case == "member-and-manifest":
        new = _other_parquet()
        rewrite(good, bad, lambda n, d: new if n == member else _manifest_with(d, {member: new}) if n == "manifest.json" else d)
        message = "version 1 rows hash to sha256:"
    elif case == "unsafe-path":
        with tarfile.open(bad, "w:gz") as tar:
            info = tarfile.TarInfo("../escape.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        message = "unsafe archive member '../escape.txt'"
    else:
        bad.write_bytes(b"just some bytes")
        message = "not a readable archive"
    with pytest.raises(ValidationError, match=message):
        other.datasets.import_archive(bad)
    assert other.datasets.list() == []
    assert not (tmp_path / "escape.txt").exists()


def test_rest_export_and_import(ws: Workspace, other: Workspace) -> None:
    make_versions(ws)
    with TestClient(create_app(ws)) as a, TestClient(create_app(other)) as b:
        r = a.get("/datasets/loans/export")
        assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
        digest = r.headers["x-content-sha256"]
        assert digest == hashlib.sha256(r.content).hexdigest()
        wrong = b.post("/datasets/import", content=r.content, headers={"content-type": "application/octet-stream", "x-content-sha256": "0" * 64})
        assert wrong.status_code == 400 and "archive checksum" in wrong.json()["message"]
        ok = b.post("/datasets/import", params={"name": "moved"}, content=r.content,
                    headers={"content-type": "application/octet-stream", "x-content-sha256": digest})  # fmt: skip
        assert ok.status_code == 201 and [v["version"] for v in ok.json()] == [1, 2]
        assert b.post("/datasets/import", content=b"x", headers={"content-type": "text/csv"}).status_code == 415
    pd.testing.assert_frame_equal(other.datasets.read("moved"), ws.datasets.read("loans"))
