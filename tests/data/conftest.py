"""Fixtures of the data tests: a real HTTP server over the test workspace."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(ws: Workspace) -> Iterator[str]:
    """A real uvicorn server over ``ws`` on a free loopback port, for the ``with`` block."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
        ws.datasets.records().close()


@pytest.fixture
def server(ws: Workspace) -> Iterator[str]:
    """A real uvicorn server over the test workspace, on a free loopback port."""
    with serve(ws) as url:
        yield url
