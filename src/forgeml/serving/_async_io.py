"""Where an async request's payload comes from and where its answer goes.

``InputLocation`` is an artifact (``artifact/<digest>``, ``sha256:<digest>``), a dataset
(``dataset/NAME:VERSION``, sent as CSV rows without a header or as pandas-split JSON, following
the request's ContentType) or, for the SDK and the CLI, a local file. Over the REST API a file
is a server path and refused by :meth:`Access.check_source` unless it lies in an allowed data
root. The location is checked when the request is queued (a missing one is a 404 then) and read
when it runs. Answers are written with :func:`write_location`: a local file appears whole (a
temporary name renamed into place), any other fsspec URL is written in one call.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from forgeml.errors import NotFoundError, PayloadTooLargeError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

FIELD = "InputLocation"


def check_input(ws: Workspace, location: str, limit: int) -> str:
    """The canonical form of ``location`` once it is known to exist and fit in ``limit`` bytes.

    Raises:
        ForbiddenError: a file over the network outside the allowed data roots.
        NotFoundError: no such artifact, dataset or file.
        PayloadTooLargeError: a file or artifact larger than ``limit``.
        ValidationError: a malformed reference.
    """
    from forgeml.core.refs import looks_like_path, resolve_digest

    text = location.strip()
    if not text:
        raise ValidationError(f"{FIELD} is empty")
    if text.startswith(("artifact/", "sha256:")):
        digest = resolve_digest(ws.metadata, text)
        size = ws.metadata.get_artifact(digest).size
        _fits(size, limit, text)
        return f"artifact/{digest}"
    if text.startswith("dataset/") or not looks_like_path(text):
        return str(ws.datasets.get(text).ref)
    ws.access.check_source(text, FIELD)
    path = Path(text).expanduser()
    if not path.is_file():
        raise NotFoundError(f"{FIELD} {text!r} is not a file")
    _fits(path.stat().st_size, limit, text)
    return str(path.resolve())


def _fits(size: int | None, limit: int, shown: str) -> None:
    if size is not None and size > limit:
        raise PayloadTooLargeError(f"{FIELD} {shown!r} holds {size} bytes, more than the endpoint's limit of {limit} bytes")


def read_input(ws: Workspace, location: str, content_type: str) -> bytes:
    """The payload ``location`` (as :func:`check_input` returned it) holds now.

    Raises:
        NotFoundError: it disappeared since the request was queued.
    """
    if location.startswith("artifact/"):
        return bytes(ws.artifacts.read_bytes(location.removeprefix("artifact/")))
    if location.startswith("dataset/"):
        frame = ws.datasets.read(ws.datasets.get(location))
        if content_type.split(";")[0].strip().lower() == "text/csv":
            return str(frame.to_csv(header=False, index=False)).encode()
        return str(frame.to_json(orient="split", index=False)).encode()
    path = Path(location)
    if not path.is_file():
        raise NotFoundError(f"{FIELD} {location!r} no longer exists")
    return path.read_bytes()


def write_location(location: str, data: bytes) -> None:
    """Write ``data`` at ``location`` (a path or fsspec URL), replacing what was there."""
    if "://" not in location or location.startswith("file://"):
        target = Path(location.removeprefix("file://"))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return
    import fsspec

    fs, path = fsspec.core.url_to_fs(location)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, data)


def read_location(location: str) -> bytes:
    """The bytes at ``location``.

    Raises:
        NotFoundError: nothing is there (yet).
    """
    try:
        if "://" not in location or location.startswith("file://"):
            return Path(location.removeprefix("file://")).read_bytes()
        import fsspec

        with fsspec.open(location, "rb") as fh:
            data: bytes = fh.read()
            return data
    except FileNotFoundError:
        raise NotFoundError(f"nothing has been written at {location!r} yet") from None


def join(root: str, name: str) -> str:
    """``root/name`` for a folder path or an fsspec URL."""
    return f"{root.rstrip('/')}/{name}"


__all__ = ["check_input", "join", "read_input", "read_location", "write_location"]
