"""Local execution backend: each job runs in OS processes of its own on this machine."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from forgeml.core.jobs._backend import ExecutionBackend


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (to tell a live job from a reused pid), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return "unknown"
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return fields[19]


def pid_alive(pid: int, start_time: str | None) -> bool:
    """True when ``pid`` runs and is the same process that started at ``start_time``."""
    now = process_start_time(pid)
    if now is None:
        return False
    return start_time in (None, "unknown") or now in ("unknown", start_time)


def kill_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (falls back to the process alone)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _fork_supervisor(job_name: str, env: dict[str, str]) -> dict[str, Any]:
    """Start the supervisor as a double-forked grandchild of this process; return its handle.

    The grandchild is what ``python -m forgeml.core.jobs._supervisor`` would be, without starting
    an interpreter and importing ForgeML again (about 0.4 s). The middle child exits at once, so
    the supervisor is nobody's zombie, and it leads a session of its own, as with ``Popen``. The
    grandchild never touches this process's open database connections: it keeps them referenced
    (so nothing closes them under the parent) and opens a workspace of its own.
    """
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    middle = os.fork()
    if middle == 0:
        code = 1
        try:
            os.close(read_end)
            os.setsid()  # out of the caller's process group first: killing the caller's group now spares the supervisor
            supervisor = os.fork()
            if supervisor:
                os.write(write_end, str(supervisor).encode())
                code = 0
            else:
                os.close(write_end)
                code = _become_supervisor(job_name, env)
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        pid_text = pipe.read().decode()
    os.waitpid(middle, 0)
    if not pid_text:
        raise RuntimeError(f"could not fork the supervisor of job {job_name!r}")
    pid = int(pid_text)
    return {"supervisor_pid": pid, "supervisor_start": process_start_time(pid)}


def _become_supervisor(job_name: str, env: dict[str, str]) -> int:
    """In the forked grandchild: a session and process group of its own (so the job can be killed
    as a group), a clean signal and stdio state, the job's environment, then the supervisor."""
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    # Python-level streams on fds 1 and 2, as a new interpreter has them (the caller's may be
    # anything: a capture object, a log file), so the worker's output follows its dup2 to the log
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    os.environ.update({**env, "PYTHONUNBUFFERED": "1"})
    try:
        from forgeml.core.jobs._supervisor import main

        return main(job_name)
    except BaseException:
        return 1


class LocalBackend(ExecutionBackend):
    """Runs ``python -m forgeml.core.jobs._supervisor JOB`` in a new session.

    With ``fork`` set (by :meth:`JobService.fork_launches`, from a ForgeML job process that
    launches jobs of its own, such as a tuning worker), the supervisor is forked from the calling
    process instead of started as a new interpreter.

    The supervisor outlives the command that launched it, so ``forgeml train create`` can return
    while the job runs; it starts the job's worker in a process group of its own, enforces the
    maximum runtime and stop requests, and records the outcome.
    """

    name = "local"

    def __init__(self) -> None:
        self.fork = False

    def launch(self, job_name: str, env: dict[str, str]) -> dict[str, Any]:
        if self.fork:
            return _fork_supervisor(job_name, env)
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "forgeml.core.jobs._supervisor", job_name],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        # reap the supervisor when it exits, so it never lingers as a zombie of this process
        threading.Thread(target=proc.wait, name=f"reap-{job_name}", daemon=True).start()
        return {"supervisor_pid": proc.pid, "supervisor_start": process_start_time(proc.pid)}

    def is_alive(self, handle: dict[str, Any]) -> bool:
        pid = handle.get("supervisor_pid")
        if pid is None:
            return False
        return pid_alive(int(pid), handle.get("supervisor_start"))

    def kill(self, handle: dict[str, Any]) -> None:
        for key, start_key in (("worker_pid", "worker_start"), ("supervisor_pid", "supervisor_start")):
            pid = handle.get(key)
            if pid is not None and pid_alive(int(pid), handle.get(start_key)):
                kill_group(int(pid), signal.SIGKILL)
