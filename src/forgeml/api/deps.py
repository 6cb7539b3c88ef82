"""FastAPI dependencies: the workspace the app was created with, as a network caller sees it."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from forgeml.core.workspace import Workspace
from forgeml.errors import PayloadTooLargeError


def get_workspace(request: Request) -> Workspace:
    """The app's workspace with network access: services check every location through it."""
    ws: Workspace = request.app.state.workspace
    return ws


async def save_body(request: Request, path: Path, limit: int, what: str) -> int:
    """Stream a raw request body into ``path``, refusing it past ``limit`` bytes (413).

    Returns:
        The number of bytes written.
    """
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"{what} of {int(length)} bytes exceeds the limit of {limit} bytes")
    size = 0
    with open(path, "wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"{what} larger than the limit of {limit} bytes")
            fh.write(chunk)
    return size
