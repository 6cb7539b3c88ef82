"""Entry point of an endpoint's server: ``python -m forgeml.serving._serve RUNTIME.json``.

Runs uvicorn with the runtime's worker count over :func:`forgeml.serving._app.create_from_env`,
under :class:`forgeml.serving._scale.ScalableMultiprocess`, whose pool grows and shrinks while it
serves (autoscaling; ``"scalable": false`` in the runtime keeps a one-worker server in one process).
The service starts this in a session (process group) of its own, so ``delete`` stops the server
and every worker with one signal. Thread pools of OpenMP/BLAS are pinned per worker to
``cores // workers`` before any numeric library loads (unpinned pools collapse throughput under
load), the access log is off, and Prometheus multiprocess files go to a fresh folder.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

MASTER_VAR = "FORGEML_ENDPOINT_MASTER"  # the supervising process's pid, in every worker's environment
_PR_SET_PDEATHSIG = 1
KEEPALIVE_SECONDS = 5  # how long a worker keeps an idle connection open (the proxy's pool drops it sooner)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def main(argv: list[str]) -> None:
    import orjson

    runtime_path = Path(argv[0]).resolve()
    runtime = orjson.loads(runtime_path.read_bytes())
    workers = int(runtime["workers"])
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for var in _THREAD_VARS:
        os.environ[var] = threads
    metrics_dir = Path(runtime["metrics_dir"])
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ["FORGEML_ENDPOINT_RUNTIME"] = str(runtime_path)

    import uvicorn

    sock = bind(runtime.get("host", "127.0.0.1"), int(runtime.get("port", 0)))
    port_file = runtime_path.parent / "port"
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(sock.getsockname()[1]))
    tmp.replace(port_file)
    config = uvicorn.Config(
        "forgeml.serving._app:create_from_env",
        factory=True,
        workers=workers,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEPALIVE_SECONDS,
        backlog=4096,
        **(runtime.get("tls") or {}),  # ssl_certfile / ssl_keyfile: HTTPS only
    )
    server = uvicorn.Server(config)
    if workers > 1 or runtime.get("scalable", True):
        from forgeml.serving._scale import ScalableMultiprocess

        os.environ[MASTER_VAR] = str(os.getpid())  # workers die with it (see die_with_parent)
        if threads == "1":
            # a worker forked from a forkserver whose numeric pools have more than one thread can
            # hang loading its model (measured: an XGBoost package, 2 threads, never served);
            # with more threads per worker, workers start as fresh interpreters instead
            _fork_workers()
        ScalableMultiprocess(config, [sock], runtime_path.parent, str(runtime["endpoint"])).run()
    else:
        server.run(sockets=[sock])


def _fork_workers() -> None:
    """Workers (and their replacements) fork from a forkserver that preloaded the runtime and the
    models (:mod:`forgeml.serving._preload`), instead of uvicorn's default of spawning a fresh
    interpreter that imports everything again: a replacement for a dead worker serves in well
    under a second instead of 7-8 s."""
    import multiprocessing

    import uvicorn._subprocess

    from forgeml.serving._app import PRELOAD_VAR

    os.environ[PRELOAD_VAR] = "1"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["forgeml.serving._preload"])
    uvicorn._subprocess.spawn = context  # type: ignore[assignment]


def die_with_parent(master: int) -> None:
    """Make this process (a worker, or the forkserver) stop when ``master``, the supervisor, dies.

    A worker outliving a ``kill -9`` of its supervisor would go on answering on the endpoint's
    port while the endpoint's status says Failed, with nobody left to replace or stop it. A
    worker's parent is the supervisor's forkserver, which is itself armed the same way. On Linux
    the kernel sends SIGTERM when the parent dies
    (``prctl(PR_SET_PDEATHSIG)``; uvicorn shuts it down gracefully, flushing data capture);
    elsewhere a daemon thread looks at the supervisor twice a second. A supervisor that died
    before this call is caught by the check that follows.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if not armed:
        threading.Thread(target=_watch_parent, args=(master,), name="forgeml-parent-watch", daemon=True).start()
    if not _alive(master) or os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(master: int) -> None:
    while _alive(master) and os.getppid() != 1:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, created with ``IPPROTO_TCP`` so that asyncio sets TCP_NODELAY on
    every accepted connection. uvicorn's own multi-worker socket has protocol 0, so asyncio
    skips TCP_NODELAY and each small response waits on Nagle plus delayed ACK: about 40 ms per
    request at concurrency 1 (measured; see docs/endpoints.md)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    main(sys.argv[1:])
