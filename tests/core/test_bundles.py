"""Uploaded folders (``forgeml.core.bundles``, ``POST /bundles``): stored whole, or refused whole."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.bundles import Limits, extract, folder_digest
from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, PayloadTooLargeError, ValidationError
from forgeml.settings import Settings

LIMITS = Limits(max_bytes=1 << 20, max_files=50)


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", size: int | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    if size is not None:
        info.size = size
    return info


def zip_bytes(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("evil")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_bytes([(info, b"/etc/passwd")])


GOOD_TAR = tar_bytes([(member("train.py"), b"print('hi')\n"), (member("pkg/util.py"), b"X = 1\n"), (member("pkg", tarfile.DIRTYPE), None)])

BAD: dict[str, tuple[Callable[[], bytes], type[Exception], str]] = {
    "absolute name": (lambda: tar_bytes([(member("/etc/cron.d/evil"), b"x")]), ValidationError, "outside the bundle folder"),
    "parent folder": (lambda: tar_bytes([(member("../../evil.py"), b"x")]), ValidationError, "outside the bundle folder"),
    "symlink": (lambda: tar_bytes([(member("link", tarfile.SYMTYPE, linkname="/etc/passwd"), None)]), ValidationError, "is a link"),
    "relative symlink": (lambda: tar_bytes([(member("link", tarfile.SYMTYPE, linkname="a"), None)]), ValidationError, "is a link"),
    "hard link": (lambda: tar_bytes([(member("a"), b"x"), (member("b", tarfile.LNKTYPE, linkname="a"), None)]), ValidationError, "is a link"),
    "device": (lambda: tar_bytes([(member("dev", tarfile.CHRTYPE), None)]), ValidationError, "is a special file"),
    "fifo": (lambda: tar_bytes([(member("pipe", tarfile.FIFOTYPE), None)]), ValidationError, "is a special file"),
    "too many files": (lambda: tar_bytes([(member(f"f{i}"), b"x") for i in range(51)]), PayloadTooLargeError, "more than 50 files"),
    "tar bomb": (lambda: tar_bytes([(member("zeros"), b"\0" * (2 << 20))]), PayloadTooLargeError, "past 1048576 bytes"),
    "zip bomb": (lambda: zip_bytes([(f"z{i}", b"\0" * (400 << 10)) for i in range(3)]), PayloadTooLargeError, "past 1048576 bytes"),
    "zip parent folder": (lambda: zip_bytes([("../evil.py", b"x")]), ValidationError, "outside the bundle folder"),
    "zip absolute name": (lambda: zip_bytes([("/tmp/evil.py", b"x")]), ValidationError, "outside the bundle folder"),
    "zip symlink": (symlink_zip, ValidationError, "is a link"),
    "not an archive": (lambda: b"print('not an archive')\n", ValidationError, "not a readable tar archive"),
    "truncated": (lambda: GOOD_TAR[: len(GOOD_TAR) // 2], ValidationError, "not a readable tar archive"),
    "empty": (lambda: tar_bytes([]), ValidationError, "holds no files"),
}


def test_tar_and_zip_bundles_extract_exactly(tmp_path: Path) -> None:
    assert extract(_write(tmp_path / "b.tgz", GOOD_TAR), tmp_path / "t", LIMITS) == (2, 18)
    assert (tmp_path / "t" / "pkg" / "util.py").read_text() == "X = 1\n"
    zipped = zip_bytes([("train.py", b"print('hi')\n"), ("pkg/util.py", b"X = 1\n")])
    assert extract(_write(tmp_path / "b.zip", zipped), tmp_path / "z", LIMITS) == (2, 18)
    assert sorted(p.relative_to(tmp_path / "z").as_posix() for p in (tmp_path / "z").rglob("*")) == ["pkg", "pkg/util.py", "train.py"]


@pytest.mark.parametrize("case", sorted(BAD))
def test_unsafe_archives_are_refused_and_write_nothing_outside(tmp_path: Path, case: str) -> None:
    make, error, message = BAD[case]
    dest = tmp_path / "dest"
    with pytest.raises(error, match=message):
        extract(_write(tmp_path / "upload", make()), dest, LIMITS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "upload"]  # nothing landed beside the folder
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server's limits are the ones above: 1 MiB, 50 files."""
    return settings.model_copy(update={"bundle_max_mb": 1.0, "bundle_max_files": 50})


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_rest_upload_stores_the_folder_once_and_keeps_it_from_gc(ws: Workspace, client: TestClient) -> None:
    r = client.post("/bundles", content=GOOD_TAR, headers={"content-type": "application/gzip"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["files"] == 2 and body["bytes"] == 18 and body["ref"] == f"artifact/{body['digest']}"
    again = client.post("/bundles", content=zip_bytes([("train.py", b"print('hi')\n"), ("pkg/util.py", b"X = 1\n")]))
    assert again.json()["digest"] == body["digest"]  # content-addressed: the same folder, whatever the archive
    assert folder_digest(ws, body["ref"], "source_bundle") == body["digest"]
    assert ws.artifacts.gc().deleted == []
    out = ws.artifacts.get_dir(body["digest"], ws.home / "check")
    assert (out / "train.py").read_text() == "print('hi')\n"


@pytest.mark.parametrize("case", ["symlink", "absolute name", "zip bomb", "tar bomb", "too many files", "not an archive"])
def test_rest_upload_refusals_are_4xx(ws: Workspace, client: TestClient, case: str) -> None:
    assert Limits.of(ws) == LIMITS
    make, error, message = BAD[case]
    r = client.post("/bundles", content=make())
    assert r.status_code == (413 if error is PayloadTooLargeError else 400), r.text
    assert message in r.json()["message"]
    assert ws.metadata.list_artifacts() == []  # nothing stored


def test_rest_upload_limits_and_media_type(settings: Settings) -> None:
    with Workspace(settings.model_copy(update={"bundle_max_mb": 0.001})) as ws, TestClient(create_app(ws)) as client:
        assert client.post("/bundles", content=GOOD_TAR, headers={"content-type": "text/plain"}).status_code == 415
        r = client.post("/bundles", content=b"\0" * 5000)
        assert r.status_code == 413 and "bundle_max_mb" in r.json()["message"]
        small = Limits.of(ws)
        assert small.max_bytes == 1048 and small.max_files == 50


def test_folder_digest_names_what_is_wrong(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="source_bundle: expected an artifact digest"):
        folder_digest(ws, "/etc", "source_bundle")
    with pytest.raises(NotFoundError):
        folder_digest(ws, "0" * 64, "source_bundle")
    file_digest = ws.artifacts.put_bytes(b"just bytes").digest
    with pytest.raises(ValidationError, match="is not a folder"):
        folder_digest(ws, file_digest, "source_bundle")
