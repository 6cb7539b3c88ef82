"""``/bundles``: upload a folder (training code, a model package) as a tar or zip archive.

    POST /bundles        the archive as the raw body -> {"digest", "ref", "files", "bytes"}

The folder is extracted safely (no links, devices, absolute or ``..`` names; capped in files
and bytes) and stored content-addressed; requests then name it by digest: a training job's
``source_bundle``, a model version registered from ``artifact``. This is how code reaches the
server over the network (see docs/training.md, "Source bundles").
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from forgeml.api.deps import get_workspace, save_body
from forgeml.api.errors import errors
from forgeml.core.workspace import Workspace
from forgeml.errors import UnsupportedMediaTypeError

router = APIRouter(prefix="/bundles", tags=["bundles"])

ARCHIVE_TYPES = (
    "application/octet-stream", "application/gzip", "application/x-gzip", "application/x-tar", "application/x-bzip2",
    "application/x-xz", "application/zip", "application/x-zip-compressed",
)  # fmt: skip


async def receive_archive(request: Request, ws: Workspace, folder: Path) -> Path:
    """Stream the request body into ``folder/upload`` (at most ``bundle_max_mb``).

    Raises:
        UnsupportedMediaTypeError: a Content-Type that is not an archive type.
        PayloadTooLargeError: a body over the limit.
    """
    ctype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if ctype not in ARCHIVE_TYPES:
        raise UnsupportedMediaTypeError(f"send the archive (tar, tar.gz or zip) as application/octet-stream, not {ctype}")
    path = folder / "upload"
    await save_body(request, path, int(ws.settings.bundle_max_mb * 1024 * 1024), "archive (bundle_max_mb)")
    return path


@router.post("", status_code=201, responses=errors(404, 409, 413, 415))
async def upload_bundle(request: Request, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Store a folder sent as a tar (``.tar``, ``.tar.gz``, ``.tar.bz2``, ``.tar.xz``) or zip archive."""
    from forgeml.core.bundles import store

    with tempfile.TemporaryDirectory(prefix="forgeml-upload-") as tmp:
        path = await receive_archive(request, ws, Path(tmp))
        bundle = await run_in_threadpool(store, ws, path)
    return bundle.to_dict()
