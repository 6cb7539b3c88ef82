"""Monitoring schedules: cron, windows, and a real scheduler process killed with SIGKILL and restarted.

The capture files are those the shared endpoint wrote, copied into whole hours of a second
endpoint's capture folder: in-distribution traffic three hours ago, shifted traffic two hours ago.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from forgeml.errors import AlreadyExistsError, ValidationError
from forgeml.monitoring import Scheduler, daily, hourly, parse_cron
from forgeml.monitoring._schedule import fire_times, window_of
from forgeml.monitoring._scheduler import job_name, runs

H = timedelta(hours=1)


def _hour_dir(root: Path, variant: str, hour: datetime) -> Path:
    return root / variant / hour.strftime("%Y/%m/%d/%H")


@pytest.fixture(scope="module")
def sched(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    ws = world["ws"]
    config = {"variants": [{"name": "A", "model": str(world["package"]), "weight": 1}], "data_capture": {"sampling_percentage": 100}}
    ws.endpoints.create("sched-ep", config)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    root = ws.endpoints.capture_dir("sched-ep")
    for variant, hour in (("A", now - 3 * H), ("B", now - 2 * H)):  # the real files, moved in time
        target = _hour_dir(root, "A", hour)
        target.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(sorted((world["capture"] / variant).rglob("*.jsonl"))):
            shutil.copy(f, target / f"{variant}-{i}.jsonl")
    base = ws.monitoring.get("train:1") if ws.metadata.list_resources("monitoring-baseline", name="train") else ws.monitoring.baseline("train:1")
    yield {"ws": ws, "hour": now, "base": base}


def _wait_jobs(ws: Any, names: list[str]) -> None:
    for name in names:
        ws.jobs.wait(name, timeout=120, raise_on_failure=False)


def test_cron_helpers_and_errors() -> None:
    assert hourly() == "0 * * * *" and daily(5) == "0 5 * * *" and parse_cron("daily") == "0 0 * * *"
    assert parse_cron("  15   3 * * 1 ") == "15 3 * * 1"
    with pytest.raises(ValidationError, match=r"cron: '\*/5 \* \* \* \*' runs more often than hourly"):
        parse_cron("*/5 * * * *")
    with pytest.raises(ValidationError, match=r"cron: '0 25 \* \* \*' is not a cron expression \(five fields"):
        parse_cron("0 25 * * *")
    with pytest.raises(ValidationError, match="daily"):
        daily(24)


def test_windows_tile_time_without_gaps_or_overlaps() -> None:
    t0 = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    for cron in ("0 * * * *", "0 5 * * *", "30 */3 * * *", "0 9 * * 1"):
        fires = list(fire_times(cron, t0, t0 + timedelta(days=15)))
        windows = [window_of(cron, f) for f in fires]
        assert all(s < e and e.minute == 0 for s, e in windows)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows)), cron  # end of one = start of the next
    assert window_of("0 * * * *", datetime(2026, 3, 1, 5, tzinfo=UTC)) == (datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 1, 5, tzinfo=UTC))
    assert window_of("0 5 * * *", datetime(2026, 3, 1, 5, tzinfo=UTC))[0] == datetime(2026, 2, 28, 5, tzinfo=UTC)


def test_schedule_runs_each_window_once_reading_exactly_its_files(sched: dict[str, Any]) -> None:
    ws, hour = sched["ws"], sched["hour"]
    rec = ws.monitoring.create_schedule("hourly-dq", baseline="train:1", endpoint="sched-ep", variant="A",
                                        start_time=(hour - 4 * H).isoformat())  # fmt: skip
    assert rec.status == "Pending" and rec.spec["cron"] == "0 * * * *" and rec.spec["baseline"] == "monitoring-baseline/train:1"
    with pytest.raises(AlreadyExistsError):
        ws.monitoring.create_schedule("hourly-dq", baseline="train:1", endpoint="sched-ep")
    with pytest.raises(ValidationError, match=r"cron: 'every hour' is not a cron expression"):
        ws.monitoring.create_schedule("bad-cron", baseline="train:1", endpoint="sched-ep", cron="every hour")
    assert ws.metadata.list_resources("monitoring-schedule", name="bad-cron") == []

    half_past = hour + timedelta(minutes=30)  # a fixed "now": the test may cross an hour
    jobs = [j for j in ws.monitoring.run_scheduler_once(now=half_past) if j.startswith("hourly-dq-")]  # other tests' schedules too
    assert jobs == [job_name("hourly-dq", hour - k * H) for k in (3, 2, 1, 0)]
    assert ws.monitoring.schedule("hourly-dq").status == "Scheduled"
    _wait_jobs(ws, jobs)
    assert Scheduler(ws).tick_schedule(ws.monitoring.schedule("hourly-dq"), half_past) == []  # nothing runs twice
    runs_ = ws.monitoring.schedule_executions("hourly-dq")
    assert [r["window_start"] for r in runs_] == [(hour - k * H).isoformat() for k in (1, 2, 3, 4)]
    by_start = {r["window_start"]: r for r in runs_}
    shifted, same = by_start[(hour - 2 * H).isoformat()], by_start[(hour - 3 * H).isoformat()]
    assert shifted["status"] == "CompletedWithViolations" and same["status"] == "Completed"
    assert ws.monitoring.execution(shifted["execution"]).data["item_count"] == 300
    assert ws.monitoring.execution(same["execution"]).data["capture"]["files"] == len(list((sched["ws"].endpoints.capture_dir("sched-ep") / "A").glob(f"{(hour - 3 * H):%Y/%m/%d/%H}/*.jsonl")))
    empty = ws.monitoring.execution(by_start[(hour - 1 * H).isoformat()]["execution"])
    assert empty.status == "Completed" and empty.data["status_detail"] == "NoData"
    upstream = ws.lineage.upstream(shifted["execution"]).refs()
    assert {"endpoint/sched-ep", "monitoring-schedule/hourly-dq:1", "monitoring-baseline/train:1"} <= upstream

    ws.monitoring.stop_schedule("hourly-dq")
    assert Scheduler(ws).tick_schedule(ws.monitoring.schedule("hourly-dq"), hour + 5 * H) == []  # stopped: nothing runs
    started = ws.monitoring.start_schedule("hourly-dq")
    assert started.status == "Scheduled"


def _scheduler(home: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "forgeml", "--home", str(home), "monitor", "scheduler", "--interval", "0.1"],
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)  # fmt: skip


def _claims(ws: Any, name: str, before: datetime) -> list[dict[str, Any]]:
    """The claims of windows before ``before`` (the real clock may pass an hour during the test)."""
    return [r for r in Scheduler(ws).claims(name) if r["window_start"] < before.timestamp()]


def _until(predicate: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_scheduler_killed_with_sigkill_and_restarted_runs_every_window_once(sched: dict[str, Any], tmp_path: Path) -> None:
    ws, hour = sched["ws"], sched["hour"]
    ws.monitoring.create_schedule("crash", baseline="train:1", endpoint="sched-ep", variant="A", start_time=(hour - 6 * H).isoformat())
    # a scheduler that died between claiming a window and submitting its job
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    fire = hour - 5 * H
    start, end = window_of("0 * * * *", fire)
    with ws.metadata.transaction() as conn:
        conn.execute(runs.insert().values(schedule="crash", fire_time=fire.timestamp(), window_start=start.timestamp(),
                                          window_end=end.timestamp(), job=job_name("crash", fire), state="claimed",
                                          owner=f"{socket.gethostname()}:{dead.pid}:1", claimed_at=time.time()))  # fmt: skip
    first = _scheduler(ws.home, tmp_path / "scheduler.log")
    try:
        _until(lambda: len(_claims(ws, "crash", hour)) >= 3)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # kill -9, mid-way through its pass or after it
        first.wait()
    second = _scheduler(ws.home, tmp_path / "scheduler.log")
    try:
        _until(lambda: len(_claims(ws, "crash", hour)) == 6 and all(r["state"] == "submitted" for r in _claims(ws, "crash", hour)))
        _wait_jobs(ws, [r["job"] for r in _claims(ws, "crash", hour)])
        time.sleep(0.5)  # a few more passes: none may start a window again
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait()
    assert "Traceback" not in (tmp_path / "scheduler.log").read_text()
    rows = sorted(_claims(ws, "crash", hour), key=lambda r: r["window_start"])
    assert [datetime.fromtimestamp(r["window_start"], UTC) for r in rows] == [hour - k * H for k in (6, 5, 4, 3, 2, 1)]
    assert all(a["window_end"] == b["window_start"] for a, b in itertools.pairwise(rows))
    executions = [e for e in ws.monitoring.executions("crash") if e.spec["source"]["start"] < hour.isoformat()]
    assert len(executions) == 6, [(r["status"], r["failure_reason"]) for r in ws.monitoring.schedule_executions("crash")]  # one per window: none twice, none skipped
    assert sorted(e.spec["source"]["start"] for e in executions) == [(hour - k * H).isoformat() for k in (6, 5, 4, 3, 2, 1)]
    statuses = {r["window_start"]: r["status"] for r in ws.monitoring.schedule_executions("crash")}
    assert statuses[(hour - 2 * H).isoformat()] == "CompletedWithViolations" and statuses[(hour - 3 * H).isoformat()] == "Completed"
    with ws.metadata.read_transaction() as conn:
        count = sa.select(sa.func.count()).select_from(runs).where(runs.c.schedule == "crash", runs.c.window_start < hour.timestamp())
        assert conn.execute(count).scalar() == 6  # the primary key: one claim per window


def test_cli_and_rest_faces(sched: dict[str, Any]) -> None:
    import json

    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app
    from forgeml.cli._common import state
    from tests.cli_runner import run_cli

    ws, hour = sched["ws"], sched["hour"]
    state.workspace = ws
    try:
        out = run_cli(ws.home, "monitor", "create", "cli-dq", "--baseline", "train:1", "--endpoint", "sched-ep",
                      "--cron", "daily", "--start", (hour - 2 * H).isoformat(), "--json")  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["spec"]["cron"] == "0 0 * * *"
        bad = run_cli(ws.home, "monitor", "create", "cli-bad", "--baseline", "train:1", "--endpoint", "sched-ep", "--cron", "61 * * * *")
        assert bad.returncode == 2 and bad.stderr.strip() == (
            "error: cron: '61 * * * *' is not a cron expression (five fields: minute hour day month weekday)")
        out = run_cli(ws.home, "monitor", "ls", "--json")
        assert "cli-dq" in {r["name"] for r in json.loads(out.stdout)}
        assert run_cli(ws.home, "monitor", "ls").returncode == 0
        out = run_cli(ws.home, "monitor", "show", "cli-dq", "--json")
        assert json.loads(out.stdout)["status"] == "Pending" and json.loads(out.stdout)["executions"] == []
        out = run_cli(ws.home, "monitor", "stop", "cli-dq", "--json")
        assert json.loads(out.stdout)["status"] == "Stopped"
        out = run_cli(ws.home, "monitor", "executions", "--schedule", "hourly-dq", "--json")
        assert out.returncode == 0 and len(json.loads(out.stdout)) >= 4
        assert run_cli(ws.home, "monitor", "show", "hourly-dq").returncode == 0
        missing = run_cli(ws.home, "monitor", "show", "nope")
        assert missing.returncode == 4 and missing.stderr.count("\n") == 1
    finally:
        state.workspace = None

    with TestClient(create_app(ws)) as client:
        body = {"name": "rest-dq", "baseline": "train:1", "endpoint": "sched-ep", "cron": "0 6 * * *"}
        r = client.post("/monitoring/schedules", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["ref"] == "monitoring-schedule/rest-dq:1" and r.json()["status"] == "Pending"
        assert client.post("/monitoring/schedules", json=body).status_code == 409
        r = client.post("/monitoring/schedules", json={**body, "name": "rest-bad", "cron": "*/10 * * * *"})
        assert r.status_code == 400 and "runs more often than hourly" in r.json()["message"]
        r = client.post("/monitoring/schedules", json={**body, "name": "rest-bad", "endpoint": "nope"})
        assert r.status_code == 404
        assert client.get("/monitoring/schedules/rest-dq").json()["spec"]["cron"] == "0 6 * * *"
        assert client.post("/monitoring/schedules/rest-dq/stop").json()["status"] == "Stopped"
        assert client.post("/monitoring/schedules/rest-dq/start").json()["status"] == "Scheduled"
        runs_ = client.get("/monitoring/schedules/hourly-dq/executions").json()
        assert {r["status"] for r in runs_} >= {"Completed", "CompletedWithViolations"}
        assert client.get("/monitoring/schedules/nope/executions").status_code == 404
        assert "rest-dq" in {r["name"] for r in client.get("/monitoring/schedules").json()}


def test_two_schedulers_claim_a_window_once_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    ws = Workspace(load_settings(home=str(tmp_path / "ws"), database_url=postgres_url))
    try:
        first, second = Scheduler(ws), Scheduler(ws)
        second.owner = "elsewhere:1:1"
        fire = datetime(2026, 1, 1, 5, tzinfo=UTC)
        window = window_of("0 * * * *", fire)
        assert first._claim("s", fire, window) is True
        assert second._claim("s", fire, window) is False  # the primary key: one claim per window
        (row,) = first.claims("s")
        assert row["owner"] == first.owner and row["window_start"] == window[0].timestamp()
    finally:
        ws.close()
