"""``forgeml server`` killed with SIGKILL mid-execution: the next server resumes the execution and
never runs a completed step twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from forgeml.pipelines import Pipeline, ProcessingStep
from tests.pipelines import _lib


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FORGEML_PIPELINE_DRIVER_SECONDS": "0.1"}
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "forgeml", "--home", str(home), "server", "--port", str(_port()), "--no-scheduler"],
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, env=env)  # fmt: skip


def _until(predicate: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_server_killed_mid_execution_resumes_without_repeating_steps(ws, tmp_path: Path) -> None:
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    first = ProcessingStep("First", _lib.add, arguments={"a": 1, "b": 2, "log": str(log)})
    middle = ProcessingStep("Middle", _lib.slow, arguments={"seconds": 120, "log": str(log), "label": "middle", "gate": str(gate)},
                            depends_on=[first])  # fmt: skip
    last = ProcessingStep("Last", _lib.add, arguments={"a": middle.properties.Result["label"], "b": "!", "log": str(log)})
    ws.pipelines.create(Pipeline("crashy", steps=[first, middle, last]))
    ex = ws.pipelines.start("crashy")
    server_log = tmp_path / "server.log"
    one = _server(ws.home, server_log)
    try:
        _until(lambda: any(line.startswith("middle start") for line in _lines(log)))
    finally:
        os.killpg(one.pid, signal.SIGKILL)  # kill -9 while Middle's job runs
        one.wait()
    assert ws.pipelines.execution(ex.id).status == "Executing"
    gate.touch()  # Middle finishes while no server runs
    middle_job = {s.step: s for s in ws.pipelines.steps(ex.id)}["Middle"].job
    ws.jobs.wait(middle_job, timeout=120)
    two = _server(ws.home, server_log)
    try:
        done = ws.pipelines.wait(ex.id, timeout=180, drive=False)
    finally:
        os.killpg(two.pid, signal.SIGTERM)
        two.wait()
    assert done.status == "Succeeded", done.failure_reason
    assert [line.split(" ")[0] + " " + line.split(" ")[1] for line in _lines(log)] == ["add 1", "middle start", "middle end", "add middle"]
    steps = {s.step: s for s in ws.pipelines.steps(ex.id)}
    assert all(s.attempt == 1 for s in steps.values())
    assert [j.name for j in ws.jobs.list() if j.name.startswith(f"pl-{ex.id}")].__len__() == 3  # one job per step, none submitted twice
    assert "Traceback" not in server_log.read_text()


def test_a_driver_killed_after_recording_a_start_adopts_the_job(ws, tmp_path: Path) -> None:
    """The intent (a Starting row) and the job are written before the driver dies: the next
    driver finds the job by its name instead of submitting another."""
    from forgeml.pipelines._driver import Driver, job_name

    log = tmp_path / "steps.log"
    ws.pipelines.create(Pipeline("adopt", steps=[ProcessingStep("Only", _lib.add, arguments={"a": 1, "b": 1, "log": str(log)})]))
    ex = ws.pipelines.start("adopt")
    store = ws.pipelines.store
    row = store.insert_step(ex, "Only", "Processing")  # what a driver records before acting
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with ws.metadata.transaction() as conn:  # the lease of that (now dead) driver
        from forgeml.core.metadata._schema import pipeline_executions as t

        conn.execute(t.update().where(t.c.id == ex.id).values(owner=f"{socket.gethostname()}:{dead.pid}:1", beat=time.time()))
    ws.jobs.submit("processing", "forgeml.pipelines._runner:run_processing", {
        "callable": "tests.pipelines._lib:add", "file": _lib.__file__, "inputs": {"a": 1, "b": 1, "log": str(log)}, "outputs": [],
        "property_files": [], "environment": {}, "pipeline": "adopt", "execution": ex.id, "step": "Only"},
        name=job_name(ex.id, "Only", row.attempt))  # fmt: skip
    assert ws.pipelines.wait(ex.id, timeout=120).status == "Succeeded"
    assert _lines(log) == ["add 1 1"]
    assert Driver(ws).owner != f"{socket.gethostname()}:{dead.pid}:1"
