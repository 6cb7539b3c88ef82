"""FastAPI dependencies: the workspace the app was created with, as a network caller sees it."""

from __future__ import annotations

from fastapi import Request

from forgeml.core.workspace import Workspace


def get_workspace(request: Request) -> Workspace:
    """The app's workspace with network access: services check every location through it."""
    ws: Workspace = request.app.state.workspace
    return ws
