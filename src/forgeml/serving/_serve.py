"""Entry point of an endpoint's server: ``python -m forgeml.serving._serve RUNTIME.json``.

Runs uvicorn with the runtime's worker count over :func:`forgeml.serving._app.create_from_env`.
The service starts this in a session (process group) of its own, so ``delete`` stops the server
and every worker with one signal. Thread pools of OpenMP/BLAS are pinned per worker to
``cores // workers`` before any numeric library loads (unpinned pools collapse throughput under
load), the access log is off, and Prometheus multiprocess files go to a fresh folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

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

    uvicorn.run(
        "forgeml.serving._app:create_from_env",
        factory=True,
        host=runtime.get("host", "127.0.0.1"),
        port=int(runtime["port"]),
        workers=workers if workers > 1 else None,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        backlog=4096,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
