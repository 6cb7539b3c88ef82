"""Scaling a live endpoint: workers added and drained under concurrent load, no failed request."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ConflictError, NotFoundError, ValidationError
from forgeml.serving._capacity import instance_counts, pool_state, set_instance_count

ROW = b"0.5,3,red\n"


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def _load(url: str, stop: threading.Event, outcomes: Counter[str], pids: set[int], lock: threading.Lock) -> None:
    with httpx.Client(timeout=30.0) as client:
        while not stop.is_set():
            try:
                r = client.post(f"{url}/invocations", content=ROW, headers={"Content-Type": "text/csv"})
                key = "ok" if r.status_code == 200 else f"http {r.status_code}"
            except httpx.HTTPError as exc:
                key = f"{type(exc).__name__}"
            with lock:
                outcomes[key] += 1


def test_scaling_1_3_1_under_load_fails_no_request(ws: Workspace, packages: dict[str, Path]) -> None:
    record = ws.endpoints.deploy("live", str(packages["logistic"]))
    assert instance_counts(record) == {"AllTraffic": 1}
    url = record.data["url"]
    stop, lock, outcomes, pids = threading.Event(), threading.Lock(), Counter[str](), set[int]()
    threads = [threading.Thread(target=_load, args=(url, stop, outcomes, pids, lock)) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        up = set_instance_count(ws, "live", "AllTraffic", 3)
        assert up.data["workers"] == 3 and instance_counts(up) == {"AllTraffic": 3}
        state = pool_state(up)
        assert state["running"] == state["ready"] == 3 and len(set(state["pids"])) == 3
        served_by = {httpx.get(f"{url}/ping").json()["pid"] for _ in range(60)}
        assert served_by <= set(state["pids"])
        down = set_instance_count(ws, "live", "AllTraffic", 1)
        assert pool_state(down)["running"] == 1 and not pool_state(down)["draining"]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert outcomes["ok"] > 100
    assert set(outcomes) == {"ok"}, outcomes
    assert ws.endpoints.get("live").data["workers"] == 1


def test_scale_to_zero_holds_connections_until_a_worker_is_back(ws: Workspace, packages: dict[str, Path]) -> None:
    record = ws.endpoints.deploy("zero", str(packages["logistic"]))
    set_instance_count(ws, "zero", "AllTraffic", 0)
    assert pool_state(ws.endpoints.get("zero"))["running"] == 0
    answers: list[int] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{record.data['url']}/invocations", content=ROW, headers={"Content-Type": "text/csv"}, timeout=30).status_code
        )
    )  # fmt: skip
    caller.start()
    caller.join(timeout=0.5)
    assert answers == []  # waiting in the listening socket's backlog, not refused
    out = set_instance_count(ws, "zero", "AllTraffic", 1)
    caller.join(timeout=30)
    assert answers == [200]
    assert pool_state(out)["last_setup_seconds"] is not None


def test_bad_capacity_requests_are_refused(ws: Workspace, packages: dict[str, Path]) -> None:
    ws.endpoints.deploy("bad", str(packages["logistic"]))
    with pytest.raises(NotFoundError, match="no variant 'Nope'"):
        set_instance_count(ws, "bad", "Nope", 2)
    with pytest.raises(ValidationError, match=">= 0"):
        set_instance_count(ws, "bad", "AllTraffic", -1)
    with pytest.raises(ValidationError, match="more than 64"):
        set_instance_count(ws, "bad", "AllTraffic", 65)
    with pytest.raises(NotFoundError):
        set_instance_count(ws, "missing", "AllTraffic", 1)
    ws.endpoints.delete("bad")
    with pytest.raises((NotFoundError, ConflictError)):
        set_instance_count(ws, "bad", "AllTraffic", 1)
