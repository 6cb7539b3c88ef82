"""Shared fixtures of the REST API tests: an empty and a populated workspace, each served by a real
uvicorn on loopback (session scope: building the populated one trains a model)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.settings import load_settings

NAME = "demo"  # every resource of the populated workspace is called this


@dataclass
class Served:
    """A workspace behind a running ``forgeml server`` app."""

    workspace: Workspace
    url: str


def serve(ws: Workspace, app: FastAPI | None = None) -> Iterator[Served]:
    """Serve ``app`` (``create_app(ws)`` by default) with uvicorn on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app or create_app(ws), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Served(ws, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _workspace(root: Path) -> Workspace:
    return Workspace(load_settings(home=str(root / "ws"), job_stop_grace_seconds=2.0, job_poll_seconds=0.1))


@pytest.fixture(scope="session")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    ws = _workspace(tmp_path_factory.mktemp("api-empty"))
    try:
        yield from serve(ws)
    finally:
        ws.close()


def populate(ws: Workspace) -> None:
    """A small dataset (two versions), a trained model registered with an alias, an experiment
    with a run, a finished job, a feature group with records and an endpoint serving the model, each named :data:`NAME`."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=120), "x2": rng.integers(0, 10, size=120)})
    frame["y"] = (frame["x1"] + frame["x2"] / 10 > 0.5).astype(int)
    ws.datasets.create(NAME, frame)
    ws.datasets.create(NAME, frame.iloc[:100])
    ws.training.create(
        NAME, algorithm="random-forest", channels={"train": f"dataset/{NAME}"}, target="y",
        hyperparameters={"num_trees": 5}, wait=True,
    )  # fmt: skip
    ws.registry.register(NAME, training_job=NAME)
    ws.registry.set_alias(NAME, "champion", 1)
    ws.experiments.create_experiment(NAME)
    ws.experiments.create_run(NAME, "r1", params={"depth": 3})
    ws.experiments.log_metrics(f"{NAME}/r1", {"auc": 0.8})
    ws.jobs.submit("processing", "forgeml.testing.jobfuncs:hello", name="hello")
    ws.jobs.wait("hello", timeout=60)
    ws.features.create_group(NAME, record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:Fractional", "x1:Fractional"])
    ws.features.ingest(NAME, pd.DataFrame({"id": [1, 2, 3], "ts": [1.0, 2.0, 3.0], "x1": [0.1, 0.2, 0.3]}))
    ws.endpoints.create(NAME, {"variants": [{"model": f"{NAME}:1"}]})


@pytest.fixture(scope="session")
def populated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    ws = _workspace(tmp_path_factory.mktemp("api-populated"))
    try:
        populate(ws)
        yield from serve(ws)
    finally:
        if any(e.name == NAME for e in ws.endpoints.list()):  # the fuzzer may have deleted it
            ws.endpoints.delete(NAME)
        ws.close()
