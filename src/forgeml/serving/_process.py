"""Endpoint server processes: start detached, wait until healthy, stop the whole group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forgeml.core.jobs._local import kill_group, pid_alive, process_start_time
from forgeml.errors import BackendUnavailableError

# servers this process started: kept referenced so that a detached server's Popen is never
# garbage-collected while it runs (and reaped once it is stopped)
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def start_server(runtime_path: Path, log_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start ``python -m forgeml.serving._serve`` in a new session; return its handle."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "forgeml.serving._serve", str(runtime_path)],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _STARTED[proc.pid] = proc
    return {"pid": proc.pid, "pid_start": process_start_time(proc.pid), "runtime_dir": str(runtime_path.parent)}


def is_running(handle: dict[str, Any]) -> bool:
    pid = handle.get("pid")
    return pid is not None and pid_alive(int(pid), handle.get("pid_start"))


def wait_healthy(
    handle: dict[str, Any], port_file: Path, timeout: float, host: str = "127.0.0.1", scheme: str = "http", verify: Any = True
) -> int:
    """Wait for the server to report its port and answer ``/ping`` with 200; return the port.

    Raises:
        BackendUnavailableError: the process exited or did not answer within ``timeout``.
    """
    import httpx

    proc = _STARTED.get(int(handle["pid"]))
    deadline = time.monotonic() + timeout
    port = 0
    with httpx.Client(timeout=2.0, verify=verify) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise BackendUnavailableError(f"endpoint server exited with code {proc.returncode} while starting")
            if proc is None and not is_running(handle):
                raise BackendUnavailableError("endpoint server exited while starting")
            if not port and port_file.is_file():
                port = int(port_file.read_text())
            if port:
                try:
                    if client.get(f"{scheme}://{host}:{port}/ping").status_code == 200:
                        return port
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
    raise BackendUnavailableError(f"endpoint server did not become healthy within {timeout:g} s")


def members(pgid: int, marker: str) -> list[int]:
    """Live processes of group ``pgid`` whose environment holds ``marker``."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT back while cleanup runs (main thread only); a Ctrl-C that arrived meanwhile is
    raised as KeyboardInterrupt once the block is done, so cleanup is never cut half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if pending:
            raise KeyboardInterrupt


def stop_server(handle: dict[str, Any], grace: float = 5.0) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after ``grace`` seconds."""
    pid = handle.get("pid")
    if pid is None:
        return
    pid = int(pid)
    proc = _STARTED.pop(pid, None)
    if not pid_alive(pid, handle.get("pid_start")):
        # the leader is gone: kill only workers that are provably this server's (same group and
        # the server's runtime file in their environment), never whatever now owns the pid
        runtime = handle.get("runtime_dir")
        if runtime:
            for orphan in members(pid, f"FORGEML_ENDPOINT_RUNTIME={Path(runtime) / 'runtime.json'}"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(orphan, signal.SIGKILL)
        if proc is not None:  # a dying multi-threaded leader is reapable a moment later
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        return
    kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        if proc is None and not pid_alive(pid, handle.get("pid_start")):
            break
        time.sleep(0.05)
    kill_group(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


__all__ = ["interrupts_deferred", "is_running", "members", "start_server", "stop_server", "wait_healthy"]
