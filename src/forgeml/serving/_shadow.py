"""Shadow variants inside an endpoint worker: a copy of sampled requests, off the caller's path.

A shadow variant (``shadow_variants`` in the endpoint config, SageMaker's
``ShadowProductionVariants``) is loaded by every worker next to the production variants but is
never chosen for a caller. When its source variant has answered a request whose rows parsed, the
worker draws the sample (``sampling_percentage``) and, only after the caller's response has been
sent (see :meth:`EndpointApp.__call__`), predicts the same rows with the shadow model on a thread
of its own. It writes one *pair* line per copied request::

    <home>/endpoints/<endpoint>/shadow/<variant>/pairs-<pid>-<id>.jsonl
    {"time": ..., "source_variant": "AllTraffic", "shadow_variant": "shadow", "inference_id": ...,
     "production": {"status": 200, "latency_ms": 1.2, "predictions": [...], "sent_at": ...},
     "shadow":     {"status": 200, "latency_ms": 0.9, "predictions": [...], "started_at": ...}}

(sealed line by line when encryption at rest is on), which the shadow test's comparison report
reads; the shadow's answers are also written to data capture, when the endpoint has it, under the
shadow variant's folder with ``eventMetadata.shadow`` true. Its invocations, errors and latency
are metrics of the shadow variant's name. A burst the shadow cannot keep up with is dropped
(``forgeml_endpoint_shadow_dropped``) rather than queued behind production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from forgeml.errors import ForgeError
from forgeml.security._lines import seal_lines

if TYPE_CHECKING:
    from forgeml.serving._runner import ModelRunner

log = logging.getLogger("forgeml.serving.shadow")
MAX_PENDING = 64  # shadow copies in flight per worker before new ones are dropped
MAX_ROWS_KEPT = 1000  # predictions kept per pair line


class ShadowTarget:
    """One shadow variant of a worker: its model, sampler and pair file."""

    def __init__(self, spec: dict[str, Any], runner: ModelRunner, endpoint: str, envelope: Any, seed: int | None) -> None:
        self.name: str = spec["name"]
        self.source: str = spec["source_variant"]
        self.sampling = float(spec["sampling_percentage"]) / 100.0
        self.runner = runner
        self.dir = Path(spec["log_dir"])
        self.endpoint = endpoint
        self._envelope = envelope
        self._random = random.Random(seed)
        self._handle: IO[bytes] | None = None
        self._failed = False

    def sampled(self) -> bool:
        return self.sampling >= 1.0 or (self.sampling > 0 and self._random.random() < self.sampling)

    def write(self, pair: dict[str, Any]) -> None:
        if self._failed:
            return
        try:
            if self._handle is None:
                self.dir.mkdir(parents=True, exist_ok=True)
                raw = open(self.dir / f"pairs-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl", "ab", buffering=0)  # noqa: SIM115
                self._handle = seal_lines(raw, self._envelope, f"shadow:{self.endpoint}")  # type: ignore[assignment]
            assert self._handle is not None
            self._handle.write(orjson.dumps(pair) + b"\n")
        except OSError as exc:
            self._failed = True
            log.error("shadow pairs paused: %s", exc)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class ShadowCopier:
    """The shadow variants of one worker, by source variant, and their background copies."""

    def __init__(self, targets: list[ShadowTarget], metrics: Any, capture: Any, timeout: float) -> None:
        self.by_source: dict[str, list[ShadowTarget]] = {}
        for t in targets:
            self.by_source.setdefault(t.source, []).append(t)
        self.metrics = metrics
        self.capture = capture
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forgeml-shadow") if targets else None
        self.pending = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def jobs(self, source: str) -> list[ShadowTarget]:
        """The shadow variants that take a copy of this request (sampled now)."""
        return [t for t in self.by_source.get(source, ()) if t.sampled()]

    def schedule(self, targets: list[ShadowTarget], request: dict[str, Any]) -> None:
        """Start the copies; called after the caller's response went out."""
        loop = asyncio.get_running_loop()
        for target in targets:
            if self.pending >= MAX_PENDING:
                self.metrics.shadow_dropped.labels(self.metrics.endpoint, target.name).inc()
                continue
            self.pending += 1
            task = loop.create_task(self._copy(target, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _copy(self, target: ShadowTarget, request: dict[str, Any]) -> None:
        started_at, t0 = time.time(), time.perf_counter()
        shadow: dict[str, Any]
        out = None
        try:
            fut = asyncio.get_running_loop().run_in_executor(self.pool, target.runner.predict, request["rows"])
            predictions = await asyncio.wait_for(fut, self.timeout)
            seconds = time.perf_counter() - t0
            shadow = {"status": 200, "latency_ms": seconds * 1000, "predictions": predictions[:MAX_ROWS_KEPT]}
            self.metrics.observe(target.name, seconds)
            if self.capture is not None:
                from forgeml.serving import _codecs as codecs

                out = codecs.encode(predictions, request["accept"])
        except (ForgeError, TimeoutError) as exc:
            status = exc.http_status if isinstance(exc, ForgeError) else 424
            status = status if status < 500 else 500
            seconds = time.perf_counter() - t0
            message = exc.message if isinstance(exc, ForgeError) else f"no answer within {self.timeout:g} s"
            shadow = {"status": status, "latency_ms": seconds * 1000, "predictions": None, "error": message}
            self.metrics.error(target.name, status, seconds)
        except Exception as exc:  # a bug must not take the worker down
            log.exception("shadow copy failed")
            shadow = {"status": 500, "latency_ms": (time.perf_counter() - t0) * 1000, "predictions": None,
                      "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
        finally:
            self.pending -= 1
        shadow["started_at"] = started_at
        target.write({
            "time": request["time"], "source_variant": target.source, "shadow_variant": target.name,
            "inference_id": request.get("inference_id"), "rows": len(request["rows"]),
            "production": request["production"], "shadow": shadow,
        })  # fmt: skip
        if out is not None:
            self.capture.write(target.name, request["body"], request["content_type"], out, request["accept"],
                               request.get("inference_id"), shadow_of=target.source)  # fmt: skip

    def close(self) -> None:
        for targets in self.by_source.values():
            for t in targets:
                t.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False)


__all__ = ["MAX_PENDING", "ShadowCopier", "ShadowTarget"]
