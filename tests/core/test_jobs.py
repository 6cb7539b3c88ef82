"""Jobs on the local backend: real supervisor and worker processes."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from forgeml.core.jobs import check_transition
from forgeml.core.jobs._local import pid_alive
from forgeml.core.workspace import Workspace
from forgeml.errors import (
    AlreadyExistsError,
    InvalidTransitionError,
    JobFailedError,
    ValidationError,
)

F = "forgeml.testing.jobfuncs"


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_job_completes_with_logs_metrics_lineage_and_events(ws: Workspace) -> None:
    job = ws.jobs.submit("processing", f"{F}:hello", {"msg": "forge"}, name="hello-1", inputs=["dataset/d:1"])
    assert job.status == "Pending"
    done = ws.jobs.wait("hello-1", timeout=60)
    assert done.status == "Completed" and done.exit_code == 0 and done.secondary_status == "Completed"
    assert done.started_at is not None and done.ended_at is not None and done.ended_at >= done.started_at
    assert "hello forge" in list(ws.jobs.logs("hello-1"))
    assert [m.value for m in ws.jobs.metrics("hello-1", "loss")] == [1.0, 0.5, 1 / 3]
    assert done.outputs and done.outputs[0].startswith("artifact/")
    tree = ws.lineage.upstream(done.outputs[0])
    assert {"job/hello-1", "dataset/d:1"} <= tree.refs()
    statuses = [e.data.get("to") for e in ws.metadata.list_events(resource="job/hello-1") if e.type == "StatusChanged"]
    assert statuses == ["InProgress", "Completed"]


def test_failure_reason_from_exception(ws: Workspace) -> None:
    ws.jobs.submit("training", f"{F}:fail", {"message": "bad hyperparameter eta"}, name="fail-1")
    with pytest.raises(JobFailedError, match="bad hyperparameter eta"):
        ws.jobs.wait("fail-1", timeout=60)
    job = ws.jobs.get("fail-1")
    assert job.status == "Failed" and job.exit_code == 1
    assert job.failure_reason == "ValueError: bad hyperparameter eta"


def test_failure_reason_from_exit_code_and_last_lines(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:exit_code", {"code": 3}, name="exit-3")
    job = ws.jobs.wait("exit-3", timeout=60, raise_on_failure=False)
    assert job.status == "Failed" and job.exit_code == 3
    assert "exited with code 3" in (job.failure_reason or "") and "exiting" in (job.failure_reason or "")


def test_stop_sends_sigterm(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:sleep", {"seconds": 120}, name="sleepy")
    _wait_for(lambda: "tick 0" in list(ws.jobs.logs("sleepy")))
    ws.jobs.stop("sleepy")
    job = ws.jobs.wait("sleepy", timeout=30, raise_on_failure=False)
    assert job.status == "Stopped" and job.secondary_status == "Stopped"
    assert job.exit_code == -signal.SIGTERM
    with pytest.raises(InvalidTransitionError, match="cannot go from Stopped to Stopping"):
        ws.jobs.stop("sleepy")


def test_stop_escalates_to_sigkill_after_grace(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:ignore_sigterm", name="stubborn")
    _wait_for(lambda: "ignoring SIGTERM" in list(ws.jobs.logs("stubborn")))
    t0 = time.monotonic()
    job = ws.jobs.stop("stubborn", wait=True, timeout=30)
    assert job.status == "Stopped" and job.exit_code == -signal.SIGKILL
    assert time.monotonic() - t0 >= ws.settings.job_stop_grace_seconds


def test_max_runtime_stops_job(ws: Workspace) -> None:
    ws.jobs.submit("training", f"{F}:sleep", {"seconds": 120}, name="too-long", max_runtime_seconds=1.5)
    job = ws.jobs.wait("too-long", timeout=60, raise_on_failure=False)
    assert job.status == "Stopped" and job.secondary_status == "MaxRuntimeExceeded"
    assert "MaxRuntimeInSeconds" in (job.failure_reason or "")


def test_stop_leaves_no_orphan_processes(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:spawn_child", name="parent")
    pid_file = ws.jobs.workdir("parent") / "child.pid"
    _wait_for(pid_file.exists)
    child = int(pid_file.read_text())
    ws.jobs.stop("parent", wait=True, timeout=30)
    _wait_for(lambda: not pid_alive(child, None), timeout=10)


def test_bad_submissions_change_nothing(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="unknown job kind"):
        ws.jobs.submit("baking", f"{F}:hello")
    with pytest.raises(ValidationError, match="invalid job name"):
        ws.jobs.submit("processing", f"{F}:hello", name="bad name!")
    with pytest.raises(ValidationError, match="JSON-serializable"):
        ws.jobs.submit("processing", f"{F}:hello", {"x": object()})
    with pytest.raises(ValidationError, match="entrypoint"):
        ws.jobs.submit("processing", "no-colon")
    assert ws.jobs.list() == []
    ws.jobs.submit("processing", f"{F}:hello", name="dup")
    with pytest.raises(AlreadyExistsError):
        ws.jobs.submit("processing", f"{F}:hello", name="dup")
    ws.jobs.wait("dup", timeout=60)


def test_state_machine_rules() -> None:
    check_transition("j", "Pending", "InProgress")
    check_transition("j", "Stopping", "Stopped")
    for current, target in [("Completed", "InProgress"), ("Pending", "Completed"), ("Stopped", "Stopping"), ("Failed", "Completed")]:
        with pytest.raises(InvalidTransitionError):
            check_transition("j", current, target)
    with pytest.raises(ValidationError):
        check_transition("j", "Pending", "Exploded")


def test_transition_is_enforced_by_the_service(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:hello", name="t1")
    ws.jobs.wait("t1", timeout=60)
    with pytest.raises(InvalidTransitionError):
        ws.jobs.transition("t1", "InProgress")
    assert ws.jobs.get("t1").status == "Completed"


def _kill_job_processes(ws: Workspace, name: str) -> None:
    handle = ws.jobs.get(name).handle
    for key in ("supervisor_pid", "worker_pid"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(handle[key]), signal.SIGKILL)


def test_reconcile_fails_jobs_whose_process_vanished(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:sleep", {"seconds": 120}, name="lost")
    _wait_for(lambda: "tick 0" in list(ws.jobs.logs("lost")))
    _kill_job_processes(ws, "lost")
    _wait_for(lambda: not ws.jobs.backend.is_alive(ws.jobs.get("lost").handle))
    fresh = Workspace(ws.settings)  # start-up reconciles
    job = fresh.jobs.get("lost")
    assert job.status == "Failed" and "disappeared" in (job.failure_reason or "")
    fresh.close()


def test_interrupted_resumable_job_resumes_from_checkpoint(ws: Workspace) -> None:
    ws.jobs.submit(
        "training", f"{F}:count_with_checkpoints", {"to": 8, "step_seconds": 0.3}, name="spot", resumable=True
    )
    _wait_for(lambda: any(line == "step 3" for line in ws.jobs.logs("spot")), timeout=60)
    _kill_job_processes(ws, "spot")  # the spot interruption
    _wait_for(lambda: not ws.jobs.backend.is_alive(ws.jobs.get("spot").handle))
    Workspace(ws.settings).close()  # start-up reconcile relaunches it
    job = ws.jobs.wait("spot", timeout=90)
    assert job.status == "Completed" and job.attempts == 2
    lines = list(ws.jobs.logs("spot"))
    resumed = [line for line in lines if line.startswith("attempt 2 starting at")]
    assert resumed and int(resumed[0].rsplit(" ", 1)[1]) >= 3
    assert [m.value for m in ws.jobs.metrics("spot", "count")][-1] == 8.0
    assert any(e.type == "Interrupted" for e in ws.metadata.list_events(resource="job/spot"))


def test_pending_job_never_launched_is_failed(ws: Workspace) -> None:
    from forgeml.core.records import JobRecord

    ws.metadata.create_job(JobRecord(name="orphan", kind="processing", status="Pending", entrypoint="m:f"))
    ws.metadata.update_job("orphan", created_at=time.time() - 3600)
    ws.jobs.reconcile()
    job = ws.jobs.get("orphan")
    assert job.status == "Failed" and "never started" in (job.failure_reason or "")


def test_orphaned_pending_job_is_launched_once(ws: Workspace) -> None:
    from forgeml.core.records import JobRecord

    # stored by a submitter that died before starting its supervisor
    ws.metadata.create_job(JobRecord(name="stored", kind="processing", status="Pending", entrypoint=f"{F}:hello", config={"msg": "late"}))
    ws.jobs.launch_if_orphaned("stored")
    assert ws.jobs.wait("stored", timeout=60).status == "Completed" and "hello late" in list(ws.jobs.logs("stored"))
    assert [e.type for e in ws.metadata.list_events(resource="job/stored")].count("Relaunched") == 1
    ws.jobs.launch_if_orphaned("stored")  # not Pending any more: left alone
    assert ws.jobs.get("stored").attempts == 1


def test_workdir_is_per_job(ws: Workspace) -> None:
    assert ws.jobs.workdir("a") != ws.jobs.workdir("b")
    assert isinstance(ws.jobs.workdir("a"), Path)


def test_forked_launches_run_stop_and_leave_no_zombie(ws: Workspace) -> None:
    ws.jobs.fork_launches()  # what a tuning worker does: supervisors forked from this process
    job = ws.jobs.submit("processing", f"{F}:hello", {"msg": "forked"}, name="forked")
    pid = job.handle["supervisor_pid"]
    assert pid != os.getpid() and os.getsid(pid) == pid  # a session of its own, as with a new interpreter
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # not our child: nothing to reap, no zombie
    done = ws.jobs.wait("forked", timeout=60)
    assert done.status == "Completed" and "hello forked" in list(ws.jobs.logs("forked"))
    ws.jobs.submit("training", f"{F}:sleep", {"seconds": 120}, name="forked-sleep")
    _wait_for(lambda: ws.jobs.get("forked-sleep").handle.get("worker_pid") is not None)
    worker = ws.jobs.get("forked-sleep").handle["worker_pid"]
    assert ws.jobs.stop("forked-sleep", wait=True, timeout=30).status == "Stopped"
    _wait_for(lambda: not pid_alive(worker, None), timeout=10)
