"""A real rules process killed with SIGKILL mid-firing: nothing fires twice, idempotent targets are redone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from forgeml.rules import register_target_kind
from forgeml.rules._targets import KINDS

CHILD = textwrap.dedent("""
    import sys, time
    from forgeml.core.workspace import Workspace
    from forgeml.rules import register_target_kind
    from forgeml.settings import load_settings

    home, log, hang_note, hang_redo = sys.argv[1:5]

    def write(line):
        with open(log, "a") as f:
            f.write(line + "\\n")

    def note(payload):
        write("note:" + payload["alarm"])
        if payload["alarm"] == hang_note:
            time.sleep(3600)  # killed here: the intent is recorded, the outcome never is

    def redo(ws, target, payload, key):
        write("redo:" + payload["alarm"] + ":" + key)
        if payload["alarm"] == hang_redo:
            time.sleep(3600)
        return key

    ws = Workspace(load_settings(home=home))
    ws.rules.register_callable("note", note)
    register_target_kind("redo", redo, idempotent=True)
    write("ready")
    while True:
        ws.rules.tick()
        time.sleep(0.05)
""")


def _child(home: Path, log: Path, hang_note: str, hang_redo: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(log), hang_note, hang_redo], start_new_session=True)


def _until(log: Path, line: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not (log.exists() and line in log.read_text().splitlines()):
        assert proc.poll() is None, "the rules process exited"
        assert time.monotonic() < deadline, f"timed out waiting for {line!r}"
        time.sleep(0.05)


def _lines(log: Path, prefix: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith(prefix)]


def test_killed_rules_process_never_fires_twice(ws: Any, tmp_path: Path) -> None:
    log = tmp_path / "fired.log"

    def note(payload: Any) -> None:
        with log.open("a") as f:
            f.write(f"note:{payload['alarm']}\n")

    def redo(w: Any, target: Any, payload: Any, key: str) -> str:
        with log.open("a") as f:
            f.write(f"redo:{payload['alarm']}:{key}\n")
        return key

    register_target_kind("redo", redo, idempotent=True)
    ws.rules.register_callable("note", note)
    try:
        ws.rules.create("crashy", {"source": ["forgeml.alarms"]},
                        [{"type": "callable", "name": "note", "input": {"alarm": "$.detail.alarmName"}},
                         {"type": "redo", "input": {"alarm": "$.detail.alarmName"}}])  # fmt: skip
        for name in ("e1", "e2", "e3", "e4"):
            ws.metadata.append_event(f"alarm/{name}:1", "AlarmStateChange", {"alarmName": name})
        first = _child(ws.home, log, "e3", "-")
        try:
            _until(log, "note:e3", first)
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # kill -9 inside the callable of e3
            first.wait()
        ws.rules.tick()  # this process takes over
        for name in ("e5", "e6"):
            ws.metadata.append_event(f"alarm/{name}:1", "AlarmStateChange", {"alarmName": name})
        second = _child(ws.home, log, "-", "e6")
        try:
            _until(log, "note:e6", second)
            deadline = time.monotonic() + 60
            while not any(line.startswith("redo:e6:") for line in log.read_text().splitlines()):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            os.killpg(second.pid, signal.SIGKILL)  # kill -9 inside the idempotent target of e6
            second.wait()
        ws.rules.tick()
        ws.rules.tick()
    finally:
        KINDS.pop("redo")
    assert _lines(log, "note:") == [f"note:e{i}" for i in range(1, 7)]  # each once, e3's too (before the kill)
    redone = _lines(log, "redo:")
    assert [line.split(":")[1] for line in redone] == ["e1", "e2", "e3", "e4", "e5", "e6", "e6"]
    assert redone[-1] == redone[-2]  # redone with the same key: the target's effect happens once
    states = {(f["event_key"], f["target"]): f for f in ws.rules.history("crashy")}
    ids = {e.data["alarmName"]: str(e.id) for e in ws.metadata.list_events() if e.type == "AlarmStateChange"}
    assert len(states) == 12
    assert states[(ids["e3"], 0)]["state"] == "Interrupted" and "not repeated" in states[(ids["e3"], 0)]["outcome"]["error"]
    assert states[(ids["e6"], 1)]["state"] == "Succeeded" and states[(ids["e6"], 1)]["outcome"]["redone"] is True
    assert sum(f["state"] == "Succeeded" for f in states.values()) == 11
