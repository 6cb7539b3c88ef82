"""The endpoint server's supervisor: a worker pool whose size changes while it serves.

``forgeml.serving._serve`` runs :class:`ScalableMultiprocess`, uvicorn's multi-process
supervisor extended with a *desired worker count* read from ``scale.json`` in the endpoint
version's runtime folder (written by :mod:`forgeml.serving._capacity`). Every
:data:`CHECK_SECONDS` it compares the pool with that count:

* **more** workers wanted: it forks new ones from the preloading forkserver; a new worker takes
  connections from the shared listening socket as soon as its app is up.
* **fewer**: it *drains* the newest workers (SIGUSR1). A draining worker stops accepting new
  connections at once (the others keep accepting from the same socket, so queued connections are
  not lost), answers every request still arriving on its open connections with
  ``Connection: close`` (a client then reconnects, reaching a live worker), and exits once its
  connections are gone, or after :data:`DRAIN_SECONDS` (longer than the workers' keep-alive,
  so idle connections have been closed by their keep-alive timeout first). No request in flight
  is cut off.
* **zero** (scale to zero): every worker drains; the listening socket stays open, so a
  connection made meanwhile waits in the kernel's backlog until a worker is started again.

The pool's state is written to ``workers.json`` (desired, running, ready, pids). A worker that
comes up after the pool was empty reports its *cold start*: the seconds from the request for
capacity (``requested_at`` in ``scale.json``) until it answered the supervisor's readiness
check, published as SageMaker's ``ModelSetupTime`` (microseconds) when the server knows its
workspace's database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from uvicorn import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("forgeml.serving.scale")
CHECK_SECONDS = 0.1
KEEPALIVE_CHECK_SECONDS = 0.5
DRAIN_SECONDS = 7.0  # > the workers' keep-alive (5 s): idle connections time out before the exit
DRAINING = False  # set in a worker that was told to drain: its answers carry Connection: close


class DrainingServer(Server):
    """A worker's uvicorn server that drains on SIGUSR1 instead of stopping at once."""

    drain_started: float | None = None

    async def on_tick(self, counter: int) -> bool:
        global DRAINING
        if DRAINING and self.drain_started is None:
            self.drain_started = time.monotonic()
            for server in self.servers:  # stop accepting: the other workers take new connections
                server.close()
        if self.drain_started is not None:
            idle = not self.server_state.connections and not self.server_state.tasks
            if idle or time.monotonic() - self.drain_started > DRAIN_SECONDS:
                self.should_exit = True
        return await super().on_tick(counter)


def _drain(signum: int, frame: Any) -> None:
    global DRAINING
    DRAINING = True


class ScalableProcess(Process):
    """One worker: serves with :class:`DrainingServer` and drains on SIGUSR1."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server

    def target(self, sockets: Any = None) -> None:  # pragma: no cover - runs in the worker
        signal.signal(signal.SIGUSR1, _drain)
        threading.Thread(target=self.always_pong, daemon=True).start()
        self.server.run(sockets)

    def drain(self) -> None:
        if self.process.exitcode is None and self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGUSR1)


class ScalableMultiprocess(Multiprocess):
    """uvicorn's supervisor with a pool size that follows ``scale.json``.

    Args:
        runtime_dir: the endpoint version's runtime folder (``scale.json``, ``workers.json``).
        endpoint: the endpoint's name (the ModelSetupTime metric's dimension).
    """

    def __init__(self, config: Any, sockets: list[Any], runtime_dir: Path, endpoint: str) -> None:
        super().__init__(config, sockets)
        self.runtime_dir = runtime_dir
        self.endpoint = endpoint
        self.scale_file = runtime_dir / "scale.json"
        self.state_file = runtime_dir / "workers.json"
        self.desired = config.workers
        self.requested_at: float | None = None
        self.variants: dict[str, int] = {}
        self._mtime = 0
        self._draining: list[ScalableProcess] = []
        self._starting: dict[int, float] = {}  # id(process) -> time it was started
        self._cold: tuple[float, int] | None = None  # (requested_at, desired) of a start from zero
        self._ready: set[int] = set()
        self._written: bytes = b""
        self._ever_ready = False

    # the pool --------------------------------------------------------------------------------
    def init_processes(self) -> None:
        self._read_scale()
        for _ in range(self.desired):
            self._spawn()
        self._write_state()

    def _spawn(self) -> None:
        process = ScalableProcess(self.config, self.sockets)
        process.start()
        self.processes.append(process)
        self._starting[id(process)] = time.time()

    def _read_scale(self) -> None:
        try:
            mtime = self.scale_file.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._mtime:
            return
        try:
            data = orjson.loads(self.scale_file.read_bytes())
            desired = int(data["workers"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        self._mtime = mtime
        if desired < 0:
            return
        if desired > 0 and not self.processes:
            self._cold = (float(data.get("requested_at") or time.time()), desired)
        self.desired, self.requested_at = desired, data.get("requested_at")
        self.variants = {str(k): int(v) for k, v in (data.get("variants") or {}).items()}

    def rescale(self) -> None:
        """Bring the pool to the desired count (start or drain workers)."""
        self._read_scale()
        while len(self.processes) < self.desired:
            self._spawn()
        while len(self.processes) > self.desired:
            process = self.processes.pop()
            assert isinstance(process, ScalableProcess)
            process.drain()
            self._draining.append(process)
            self._ready.discard(id(process))
        for process in list(self._draining):  # reap the drained ones
            if process.process.exitcode is not None:
                process.join()
                self._draining.remove(process)
        self._check_ready()
        self._write_state()

    def _check_ready(self) -> None:
        for process in self.processes:
            key = id(process)
            if key in self._ready or not process.process.is_alive():
                continue
            if process.is_ready(timeout=0.05):
                self._ready.add(key)
                self._ever_ready = True
                self._starting.pop(key, None)
        if self._cold is not None and len(self._ready) >= min(1, self.desired):
            requested, _ = self._cold
            self._cold = None
            if self.desired > 0:
                self._publish_setup_time(max(0.0, time.time() - requested))

    def _publish_setup_time(self, seconds: float) -> None:
        self.last_setup_seconds = seconds
        url = os.environ.get("FORGEML_DATABASE_URL")
        if not url:
            return
        try:
            from forgeml.alarms._metrics import Datapoint, MetricsStore
            from forgeml.alarms._publish import NAMESPACE
            from forgeml.core.metadata import SqlMetadataStore

            store = SqlMetadataStore(url, migrate=False)
            try:
                points = [
                    Datapoint.of(NAMESPACE, "ModelSetupTime", {"EndpointName": self.endpoint, "VariantName": v}, [seconds * 1e6])
                    for v, n in (self.variants or {"AllTraffic": 1}).items() if n > 0
                ]  # fmt: skip
                MetricsStore(store).put(points)
            finally:
                store.close()
        except Exception:  # a metric never stops the pool
            log.warning("could not publish ModelSetupTime", exc_info=True)

    last_setup_seconds: float | None = None

    def _write_state(self) -> None:
        state = {
            "desired": self.desired, "running": len(self.processes), "ready": len(self._ready),
            "draining": len(self._draining), "pids": [p.pid for p in self.processes],
            "requested_at": self.requested_at, "last_setup_seconds": self.last_setup_seconds,
        }  # fmt: skip
        body = orjson.dumps(state)
        if body == self._written:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(body)
        tmp.replace(self.state_file)
        self._written = body

    # the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        self.init_processes()
        last_keepalive = 0.0
        while not self.should_exit.wait(CHECK_SECONDS):
            self.handle_signals()
            if time.monotonic() - last_keepalive >= KEEPALIVE_CHECK_SECONDS:
                self.keep_subprocess_alive()
                last_keepalive = time.monotonic()
            if not self.should_exit.is_set():
                self.rescale()
        self.terminate_all()
        for process in self._draining:
            process.terminate()
        self.join_all()
        for process in self._draining:
            process.join()

    def keep_subprocess_alive(self) -> None:
        """uvicorn's, with replacements that drain too (a worker that died is started again)."""
        from uvicorn.config import STARTUP_FAILURE

        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            was_ready = id(process) in self._ready
            self._ready.discard(id(process))
            if process.exitcode == STARTUP_FAILURE or (not was_ready and not self._ever_ready):
                # it died before serving and no worker ever served: the app cannot load
                log.error("worker [%s] failed to start, stopping the server", process.pid)
                self.should_exit.set()
                return
            log.info("worker [%s] died; starting another", process.pid)
            replacement = ScalableProcess(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement

    def handle_ttin(self) -> None:  # the pool size is scale.json's; uvicorn's signals would fight it
        log.info("SIGTTIN ignored: change the endpoint's capacity instead")

    def handle_ttou(self) -> None:
        log.info("SIGTTOU ignored: change the endpoint's capacity instead")


__all__ = ["DRAIN_SECONDS", "DrainingServer", "ScalableMultiprocess", "ScalableProcess"]
