"""Supervisor process of one job: starts the worker, enforces limits, records the outcome.

Run as ``python -m forgeml.core.jobs._supervisor JOB`` by an execution backend.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import time
import traceback
from collections import deque

from forgeml.core.jobs import _states as st
from forgeml.core.jobs._local import kill_group, process_start_time
from forgeml.errors import ConflictError


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as fh:
            last = deque((line.rstrip() for line in fh if line.strip()), maxlen=lines)
    except OSError:
        return ""
    return " | ".join(last)


def _fork_worker(job_name: str, log_path: str, dispose: object) -> int:
    """Start the worker as a forked child in a session of its own; return its pid.

    Forking (instead of starting a fresh interpreter) makes a job's first line appear sooner: the
    child inherits the imports already done here. The child never touches this process's
    database connections: it opens a workspace of its own.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        dispose()  # type: ignore[operator]
        from forgeml.core.jobs._worker import main as worker_main

        code = worker_main(job_name)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _poll(pid: int) -> int | None:
    """The child's exit code (negative for a signal), or None while it runs."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return None if done == 0 else os.waitstatus_to_exitcode(status)


def main(job_name: str) -> int:
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    settings = load_settings()
    ws = Workspace(settings, reconcile=False, migrate=False)
    store = ws.metadata
    job = store.get_job(job_name)
    workdir = ws.jobs.workdir(job_name)
    log_path = workdir / "logs.txt"
    failure_path = workdir / "failure"
    failure_path.unlink(missing_ok=True)
    attempts = job.attempts + 1
    handle = {"supervisor_pid": os.getpid(), "supervisor_start": process_start_time(os.getpid())}
    try:
        if job.status == st.PENDING:
            job = store.update_job(
                job_name, expected_status=(st.PENDING,), status=st.IN_PROGRESS,
                secondary_status="Starting", started_at=time.time(), attempts=attempts, handle_update=handle,
            )  # fmt: skip
        else:  # resumed after an interruption
            job = store.update_job(
                job_name, expected_status=(st.IN_PROGRESS,), status=st.IN_PROGRESS,
                secondary_status="Restarting", attempts=attempts, handle_update=handle,
            )  # fmt: skip
    except ConflictError:
        if store.get_job(job_name).status == st.STOPPING:  # stopped before it began
            store.update_job(job_name, status=st.STOPPED, secondary_status="Stopped", ended_at=time.time())
        return 0

    if attempts > 1:
        with open(log_path, "ab") as log:
            log.write(f"[forgeml] attempt {attempts}: resuming job {job_name}\n".encode())
    # warm the entrypoint's module so the forked worker starts with it imported; an import
    # error is left for the worker to report as the job's failure reason
    with contextlib.suppress(Exception):
        importlib.import_module(job.entrypoint.partition(":")[0])
    worker_pid = _fork_worker(job_name, str(log_path), lambda: ws.metadata.forget_after_fork())  # type: ignore[attr-defined]
    store.update_job(job_name, handle_update={"worker_pid": worker_pid, "worker_start": process_start_time(worker_pid)})

    def _forward_term(_sig: int, _frame: object) -> None:
        kill_group(worker_pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, _forward_term)

    started = job.started_at or time.time()
    grace = settings.job_stop_grace_seconds
    stop_reason: str | None = None
    term_sent_at: float | None = None
    next_poll = 0.0
    while True:
        code = _poll(worker_pid)
        if code is not None:
            break
        now = time.time()
        if stop_reason is None:
            if job.max_runtime_seconds and now - started > job.max_runtime_seconds:
                stop_reason = "MaxRuntimeExceeded"
                with contextlib.suppress(ConflictError):
                    store.update_job(job_name, expected_status=(st.IN_PROGRESS,), status=st.STOPPING, secondary_status="Stopping")
            elif now >= next_poll:
                next_poll = now + settings.job_poll_seconds
                if store.get_job(job_name).status == st.STOPPING:
                    stop_reason = "Stopped"
            if stop_reason is not None:
                with open(log_path, "ab") as note:
                    note.write(f"[forgeml] stopping ({stop_reason}): SIGTERM, SIGKILL after {grace:g}s\n".encode())
                kill_group(worker_pid, signal.SIGTERM)
                term_sent_at = now
        elif term_sent_at is not None and now - term_sent_at > grace:
            kill_group(worker_pid, signal.SIGKILL)
            term_sent_at = None
        time.sleep(0.05)
    kill_group(worker_pid, signal.SIGKILL)  # leave no grandchildren behind

    ended = time.time()
    if stop_reason is not None:
        store.update_job(
            job_name, status=st.STOPPED, secondary_status=stop_reason, exit_code=code, ended_at=ended,
            failure_reason="job exceeded MaxRuntimeInSeconds" if stop_reason == "MaxRuntimeExceeded" else None,
        )  # fmt: skip
    elif code == 0:
        store.update_job(job_name, expected_status=(st.IN_PROGRESS,), status=st.COMPLETED, secondary_status="Completed", exit_code=0, ended_at=ended)
    else:
        reason = failure_path.read_text().strip() if failure_path.exists() else ""
        if not reason:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            reason = f"process {how}: {_tail(str(log_path))}"
        current = store.get_job(job_name).status
        if current in (st.IN_PROGRESS, st.STOPPING):
            store.update_job(job_name, status=st.FAILED, secondary_status="Failed", exit_code=code, ended_at=ended, failure_reason=reason[:2048])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
