"""FastAPI dependencies: the workspace the app was created with."""

from __future__ import annotations

from fastapi import Request

from forgeml.core.workspace import Workspace


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws
