"""Warm start for endpoint workers: imports and models loaded once, before any worker forks.

A multi-worker endpoint's workers come from a multiprocessing *forkserver* whose preload is this
module (see :mod:`forgeml.serving._serve`). Importing it, in the forkserver, imports the runtime
(``forgeml.serving._app``, numpy, pandas) and loads each trusted, uncompiled single-model
variant's package, which imports the model's libraries (scikit-learn, xgboost, ...). A worker,
first or replacement, is then a ``fork()`` of a process that has all of that in memory: it
starts serving in well under a second, where a freshly spawned interpreter spent seconds
importing scikit-learn and unpickling the model (measured: 7-8 s under load, see
docs/endpoints.md).

Only pickle (scikit-learn flavor) packages are loaded here. Packages compiled to ONNX are not
(ONNX Runtime starts thread pools, which a fork must not inherit): only ``onnxruntime`` is
imported. If loading the packages started any thread, the loaded models are dropped and each
worker loads its own (a fork copies a thread pool's locks but not its threads). Nothing here may raise: a package that
fails to load fails again, with its message, in the worker.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

RUNNERS: dict[str, Any] = {}  # model_path -> ModelRunner loaded in the forkserver


def _preload() -> None:
    import orjson

    import forgeml.serving._app  # noqa: F401  (the runtime itself)

    path = os.environ.get("FORGEML_ENDPOINT_RUNTIME")
    if not path:
        return
    runtime = orjson.loads(Path(path).read_bytes())
    from forgeml.serving._app import _threads
    from forgeml.serving._runner import ModelRunner

    load = []
    for spec in runtime.get("variants", []):
        if spec.get("mode") != "SingleModel" or not spec.get("trusted", True):
            continue
        manifest = orjson.loads((Path(spec["model_path"]) / "forgeml-model.json").read_bytes())
        if manifest.get("flavor") == "onnx":
            with contextlib.suppress(ImportError):
                import onnxruntime  # noqa: F401
        elif manifest.get("flavor") == "sklearn" and not manifest.get("compiled"):
            load.append(spec)
    import numpy  # noqa: F401  (OpenBLAS starts its pool here; it re-creates it after a fork)
    import pandas  # noqa: F401

    if load:
        import joblib  # noqa: F401
        import sklearn.base  # noqa: F401
    threads = _thread_count()  # after the imports every worker needs, before the packages load
    for spec in load:
        RUNNERS[spec["model_path"]] = ModelRunner(
            spec["model_path"], threads=_threads(), trusted=True, digests=spec.get("digests"), origin=spec.get("origin")
        )
    if threads is None or _thread_count() != threads:
        # loading started threads (an OpenMP pool, say): a fork would copy their locks, not the
        # threads, so the workers load the packages themselves; the imports stay
        RUNNERS.clear()


def _thread_count() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: no way to tell, so nothing is preloaded but imports
        return None


def take(spec: dict[str, Any]) -> Any:
    """The runner preloaded for a variant spec, or None (then the worker loads it itself)."""
    return RUNNERS.get(spec.get("model_path", ""))


def _in_forkserver() -> bool:
    from forgeml.serving._app import PRELOAD_VAR
    from forgeml.serving._serve import MASTER_VAR

    master = os.environ.get(MASTER_VAR, "")
    return bool(os.environ.get(PRELOAD_VAR)) and master.isdigit() and int(master) == os.getppid()


if _in_forkserver():
    from forgeml.serving._serve import die_with_parent

    # the forkserver stops with the supervisor; its workers, whose parent it is, then stop with it
    # (multiprocessing keeps a forkserver up while any child it forked lives, so it would not)
    die_with_parent(int(os.environ["FORGEML_ENDPOINT_MASTER"]))
    try:
        _preload()
    except Exception:  # the worker loads the package again and reports what is wrong
        RUNNERS.clear()
