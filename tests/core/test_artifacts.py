"""Artifact store: content addressing, atomic writes, verification, folders, GC, fsspec URLs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeml.core.artifacts import ArtifactStore
from forgeml.core.metadata import SqlMetadataStore
from forgeml.core.workspace import Workspace
from forgeml.errors import CorruptArtifactError, NotFoundError, ValidationError


def test_put_bytes_is_content_addressed(any_ws: Workspace) -> None:
    ws = any_ws  # plain and with encryption at rest
    rec = ws.artifacts.put_bytes(b"hello world")
    assert rec.digest == hashlib.sha256(b"hello world").hexdigest()
    assert rec.size == 11
    again = ws.artifacts.put_bytes(b"hello world")
    assert again.digest == rec.digest
    assert len(ws.metadata.list_artifacts()) == 1
    assert ws.artifacts.read_bytes(rec.digest) == b"hello world"
    assert ws.artifacts.read_bytes("sha256:" + rec.digest) == b"hello world"


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.binary(max_size=5000))
def test_round_trip_any_bytes(ws: Workspace, data: bytes) -> None:
    rec = ws.artifacts.put_bytes(data)
    assert ws.artifacts.read_bytes(rec.digest) == data


def test_plain_bytes_that_begin_like_a_sealed_object_read_back(ws: Workspace) -> None:
    """Found by Hypothesis: plaintext starting with the envelope's magic was taken for an
    encrypted artifact and refused; a stored file that hashes to its own address is plain."""
    from forgeml.security import MAGIC

    data = MAGIC + b"not sealed at all"
    rec = ws.artifacts.put_bytes(data)
    assert ws.artifacts.read_bytes(rec.digest) == data
    assert ws.artifacts.sealed_with(rec.digest) is None


def test_corrupted_artifact_names_itself(ws: Workspace, tmp_path: Path) -> None:
    rec = ws.artifacts.put_bytes(b"precious model")
    path = Path(ws.artifacts._path(rec.digest))
    path.write_bytes(b"tampered model")
    with pytest.raises(CorruptArtifactError, match=rec.digest):
        ws.artifacts.read_bytes(rec.digest)
    dest = tmp_path / "out.bin"
    with pytest.raises(CorruptArtifactError):
        ws.artifacts.get_file(rec.digest, dest)
    assert not dest.exists()  # nothing half-written
    assert list(tmp_path.glob(".out.bin*")) == []


def test_missing_and_invalid_digests(any_ws: Workspace) -> None:
    ws = any_ws  # plain and with encryption at rest
    with pytest.raises(NotFoundError):
        ws.artifacts.read_bytes("f" * 64)
    with pytest.raises(ValidationError, match="invalid artifact digest"):
        ws.artifacts.read_bytes("../../etc/passwd")


def test_no_temporary_files_left(any_ws: Workspace) -> None:
    ws = any_ws  # plain and with encryption at rest
    ws.artifacts.put_bytes(b"x" * 100_000)
    tmp = Path(ws.artifacts.root) / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_folders_round_trip(any_ws: Workspace, tmp_path: Path) -> None:
    ws = any_ws  # plain and with encryption at rest
    src = tmp_path / "pkg"
    (src / "sub").mkdir(parents=True)
    (src / "model.bin").write_bytes(b"weights")
    (src / "sub" / "meta.json").write_text('{"a": 1}')
    rec = ws.artifacts.put_dir(src, owner="model/m:1")
    out = ws.artifacts.get_dir(rec.digest, tmp_path / "copy")
    assert (out / "model.bin").read_bytes() == b"weights"
    assert (out / "sub" / "meta.json").read_text() == '{"a": 1}'
    # the same folder content gives the same digest
    assert ws.artifacts.put_dir(src).digest == rec.digest


def test_gc_keeps_referenced_and_their_files(any_ws: Workspace, tmp_path: Path) -> None:
    ws = any_ws  # plain and with encryption at rest
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "a.txt").write_text("a")
    folder = ws.artifacts.put_dir(src, owner="model/m:1")
    lonely = ws.artifacts.put_bytes(b"nobody wants me")
    linked = ws.artifacts.put_bytes(b"in lineage")
    ws.lineage.record(f"artifact/{linked.digest}", "dataset/d:1")
    dry = ws.artifacts.gc(dry_run=True)
    assert dry.deleted == [lonely.digest]
    assert ws.artifacts.exists(lonely.digest)
    report = ws.artifacts.gc()
    assert report.deleted == [lonely.digest] and report.freed_bytes == len(b"nobody wants me")
    assert not ws.artifacts.exists(lonely.digest)
    assert ws.artifacts.exists(folder.digest) and ws.artifacts.exists(linked.digest)
    ws.artifacts.get_dir(folder.digest, tmp_path / "again")


def test_fsspec_memory_and_file_urls(tmp_path: Path) -> None:
    meta = SqlMetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    for uri in ("memory://forgeml-test-artifacts", f"file://{tmp_path / 'arts'}"):
        store = ArtifactStore(uri, meta)
        rec = store.put_bytes(b"via fsspec " + uri.encode())
        assert store.read_bytes(rec.digest) == b"via fsspec " + uri.encode()
        assert store.gc().deleted == [rec.digest]
    meta.close()
