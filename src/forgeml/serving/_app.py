"""The endpoint runtime: a small ASGI app that each worker process of an endpoint serves.

Paths (SageMaker's container contract plus the runtime API path):

* ``GET /ping``: 200 once the worker's models are loaded.
* ``POST /invocations`` and ``POST /endpoints/{name}/invocations``: predictions.
* ``GET /metrics``: Prometheus exposition, summed over the workers.
* ``GET /models``: the multi-model variants' loaded models in this worker.

It is plain ASGI rather than FastAPI: the invocation path is the hot path of the platform and a
router plus dependency injection would cost a sizeable share of the HTTP floor (measured in
benchmarks/serving). Every error is answered as ``{"error": TYPE, "message": ...}`` with the
status SageMaker uses (400 invalid input, 413 too large, 415/406 media types, 424 model error),
and the worker keeps serving.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from forgeml.errors import ForgeError, PayloadTooLargeError, ValidationError
from forgeml.security import capture_envelope
from forgeml.serving import _codecs as codecs
from forgeml.serving import _scale
from forgeml.serving._batching import MicroBatcher
from forgeml.serving._cache import ModelCache
from forgeml.serving._capture import CaptureWriter
from forgeml.serving._large import INLINE_BODY_BYTES, invoke_large
from forgeml.serving._metrics import EndpointMetrics
from forgeml.serving._runner import ModelRunner
from forgeml.serving._shadow import MAX_ROWS_KEPT, ShadowCopier, ShadowTarget

log = logging.getLogger("forgeml.serving")

H_VARIANT = "x-amzn-sagemaker-target-variant"
H_MODEL = "x-amzn-sagemaker-target-model"
H_ATTRS = "x-amzn-sagemaker-custom-attributes"
H_INFERENCE = "x-amzn-sagemaker-inference-id"
INVOKED = b"x-amzn-invoked-production-variant"
FALLBACK_FROM = b"x-forgeml-fallback-from"  # the variant a request fell back from (latency fallback)
FALLBACK_REASON = b"x-forgeml-fallback-reason"  # "latency" or "error"
WEIGHTS_CHECK_SECONDS = 0.2
PRELOAD_VAR = "FORGEML_ENDPOINT_PRELOAD"  # set in workers forked from the preloading forkserver


class _Variant:
    def __init__(self, spec: dict[str, Any], batching: dict[str, Any], executor: ThreadPoolExecutor) -> None:
        self.name: str = spec["name"]
        self.weight = float(spec["weight"])
        self.multi = spec["mode"] == "MultiModel"
        self.fallback: dict[str, Any] | None = spec.get("fallback")
        self.runner: ModelRunner | None = None
        self._batching = batching
        self._executor = executor
        self.cache: ModelCache | None = None
        self.batchers: dict[str, MicroBatcher] = {}
        self.signature: codecs.Signature | None = None
        self.preloaded = False  # the model came loaded from the forkserver (see _preload)
        if self.multi:
            self.cache = ModelCache(
                spec["model_dir"], int(spec["cache_bytes"]), enabled=spec.get("cache_enabled", True), threads=_threads(),
                trusted=spec.get("trusted", True),
            )  # fmt: skip
        else:
            runner = None
            if spec.get("trusted", True) and os.environ.get(PRELOAD_VAR):  # forked from the preloading forkserver
                from forgeml.serving._preload import take

                runner = take(spec)
                self.preloaded = runner is not None
            if runner is None:
                runner = ModelRunner(
                    spec["model_path"], threads=_threads(), trusted=spec.get("trusted", True),
                    digests=spec.get("digests"), origin=spec.get("origin"),
                )  # fmt: skip
            self.signature = runner.signature
            self.runner = runner
            self.batchers[""] = self._batcher(runner)

    def _batcher(self, runner: ModelRunner) -> MicroBatcher:
        b = self._batching
        return MicroBatcher(
            runner.predict, max_batch_rows=b["max_batch_rows"] if b["enabled"] else 1,
            max_wait_ms=b["max_wait_ms"] if b["enabled"] else 0.0, executor=self._executor,
            inline_rows=0 if self.fallback else 64,  # on a thread, so the latency threshold can pass while it runs
        )  # fmt: skip


class EndpointApp:
    """ASGI app serving one endpoint version's variants.

    Args:
        runtime: the runtime spec the service wrote (variants with local model paths,
            capture, batching, limits).
    """

    def __init__(self, runtime: dict[str, Any]) -> None:
        self.runtime = runtime
        self.endpoint: str = runtime["endpoint"]
        self.max_bytes = int(runtime["max_payload_bytes"])
        self.timeout = float(runtime["timeout_seconds"])
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forgeml-predict")
        self.variants = {v["name"]: _Variant(v, runtime["batching"], self.executor) for v in runtime["variants"]}
        self._set_weights({n: v.weight for n, v in self.variants.items()})
        self._random = random.Random(runtime.get("seed"))
        self._weights_file = Path(runtime["weights_file"]) if runtime.get("weights_file") else None
        self._weights_mtime = 0
        self._weights_checked = 0.0
        self.metrics = EndpointMetrics(self.endpoint, _publisher(runtime))
        cap = runtime.get("capture")
        self.capture: CaptureWriter | None = None
        if cap and cap.get("enabled", True):
            self.capture = CaptureWriter(
                cap["destination"], self.endpoint, sampling_percentage=cap["sampling_percentage"],
                modes=tuple(cap["capture_modes"]), csv_types=cap["csv_content_types"],
                json_types=cap["json_content_types"], seed=runtime.get("seed"), envelope=capture_envelope(),
            )  # fmt: skip
        from forgeml.security._guard import EndpointGuard

        self.guard = EndpointGuard(self.endpoint, runtime.get("security"), secure=bool(runtime.get("tls")))
        self.shadow = self._shadows(runtime)
        preloaded = [n for n, v in self.variants.items() if v.preloaded]
        self._ping = orjson.dumps({
            "status": "Healthy", "endpoint": self.endpoint, "version": runtime.get("version"), "pid": os.getpid(),
            "preloaded": preloaded,
        })  # fmt: skip

    def _shadows(self, runtime: dict[str, Any]) -> ShadowCopier | None:
        specs = runtime.get("shadows") or []
        if not specs:
            return None
        envelope = self.capture.envelope if self.capture is not None else capture_envelope()
        targets = [
            ShadowTarget(spec, ModelRunner(spec["model_path"], threads=_threads(), trusted=spec.get("trusted", True),
                                           digests=spec.get("digests"), origin=spec.get("origin")),
                         self.endpoint, envelope, runtime.get("seed"))
            for spec in specs
        ]  # fmt: skip
        return ShadowCopier(targets, self.metrics, self.capture, self.timeout)

    # ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        invocation = method == "POST" and (path == "/invocations" or (path.startswith("/endpoints/") and path.endswith("/invocations")))
        refused = await self._guarded(scope, path, invocation)
        if refused is not None:
            status, headers, body = refused
        elif invocation:
            status, headers, body = await self.invoke(scope, receive)
        elif method == "GET" and path == "/ping":
            status, headers, body = 200, [(b"content-type", b"application/json")], self._ping
        elif method == "GET" and path == "/metrics":
            text, ctype = self.metrics.render()
            status, headers, body = 200, [(b"content-type", ctype.encode())], text
        elif method == "GET" and path == "/models":
            loaded = {n: v.cache.loaded() for n, v in self.variants.items() if v.cache is not None}
            status, headers, body = 200, [(b"content-type", b"application/json")], orjson.dumps({"pid": os.getpid(), "loaded": loaded})
        else:
            status, headers, body = _error(404, "NotFoundError", f"no route for {method} {path}")
        headers.append((b"content-length", str(len(body)).encode()))
        if _scale.DRAINING:  # this worker is leaving the pool: the client reconnects to another
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        copy = scope.get("forgeml.shadow")
        if copy is not None and self.shadow is not None:  # the caller has its answer: now the shadow's copy
            copy[1]["production"]["sent_at"] = time.time()
            self.shadow.schedule(*copy)

    async def _guarded(self, scope: dict[str, Any], path: str, invocation: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The allow-list, credentials and rate limit of security/_guard.py: None to go on, or the refusal."""
        guard = self.guard
        # no client: an in-process ASGI call (every TCP connection has one)
        source = scope["client"][0] if scope.get("client") else "in-process"
        try:
            if source != "in-process":
                guard.admits(source)
            if path != "/ping" and (guard.enabled or guard.limiter.enabled):
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
                if guard.proxied(headers):
                    return None  # authorized and limited by the platform's own caller
                if guard.enabled:
                    action = "endpoints:Invoke" if invocation else "endpoints:Read"
                    await asyncio.get_running_loop().run_in_executor(None, guard.authorize, headers, source, action)
                else:
                    guard.limit(f"source:{source}")
        except ForgeError as exc:
            from forgeml.security._limits import retry_headers

            status, out, body = _error(exc.http_status, exc.kind, exc.message)
            out += [(k.lower().encode(), v.encode()) for k, v in retry_headers(exc).items()]
            return status, out, body
        return None

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        self.guard.close()
        if self.metrics.publisher is not None:
            self.metrics.publisher.close()
        if self.capture is not None:
            self.capture.close()
        if self.shadow is not None:
            self.shadow.close()
        for variant in self.variants.values():
            if variant.cache is not None:
                variant.cache.close()
        self.executor.shutdown(wait=False)

    # invocations --------------------------------------------------------------------------------
    async def _read(self, scope: dict[str, Any], receive: Any, headers: dict[str, str]) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise PayloadTooLargeError(f"payload of {int(length)} bytes exceeds the limit of {self.max_bytes} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise PayloadTooLargeError(f"payload exceeds the limit of {self.max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _set_weights(self, weights: dict[str, float]) -> None:
        self._names = [n for n in self.variants if weights.get(n, 0) > 0]
        total, self._cumulative = 0.0, []
        for name in self._names:
            total += weights[name]
            self._cumulative.append(total)
        self._total = total

    def _refresh_weights(self) -> None:
        """Pick up weights changed without a new version (UpdateEndpointWeightsAndCapacities);
        the file is looked at most every 0.2 s, and only on a request."""
        now = time.monotonic()
        if self._weights_file is None or now - self._weights_checked < WEIGHTS_CHECK_SECONDS:
            return
        self._weights_checked = now
        try:
            mtime = self._weights_file.stat().st_mtime_ns
            if mtime != self._weights_mtime:
                weights = orjson.loads(self._weights_file.read_bytes())
                self._set_weights({n: float(weights.get(n, 0)) for n in self.variants})
                self._weights_mtime = mtime
        except (OSError, orjson.JSONDecodeError, TypeError, ValueError):
            return

    def _choose(self, target: str | None) -> _Variant:
        if target is not None:
            variant = self.variants.get(target)
            if variant is None:
                raise ValidationError(
                    f"target variant {target!r} does not exist on endpoint {self.endpoint!r} (variants: {', '.join(self.variants)})"
                )
            return variant
        if len(self._names) == 1:
            return self.variants[self._names[0]]
        point = self._random.random() * self._total
        return self.variants[self._names[min(bisect.bisect_right(self._cumulative, point), len(self._names) - 1)]]

    async def _batcher(self, variant: _Variant, target: str | None) -> tuple[MicroBatcher, codecs.Signature]:
        if not variant.multi:
            assert variant.signature is not None
            return variant.batchers[""], variant.signature
        if not target:
            raise ValidationError(f"variant {variant.name!r} is multi-model: name the model in X-Amzn-SageMaker-Target-Model")
        cache = variant.cache
        assert cache is not None
        runner = cache.cached(target)
        labels = (self.endpoint, variant.name)
        if runner is None:
            runner, waited, loaded = await asyncio.get_running_loop().run_in_executor(self.executor, cache.get, target)
            if loaded:
                self.metrics.model_loads.labels(*labels).inc()
                self.metrics.loaded_models.labels(*labels).set(len(cache.loaded()))
            self.metrics.loading_wait.labels(*labels).observe(waited)
        else:
            self.metrics.cache_hits.labels(*labels).inc()
        batcher = variant.batchers.get(target)
        if batcher is None or getattr(batcher.predict, "__self__", None) is not runner:
            loaded = set(cache.loaded())
            for old in [k for k in variant.batchers if k not in loaded]:
                del variant.batchers[old]
            batcher = variant._batcher(runner)
            if cache.enabled:
                variant.batchers[target] = batcher
        return batcher, runner.signature

    async def invoke(self, scope: dict[str, Any], receive: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        t0 = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        variant_name = "-"
        rows: list[list[Any]] | None = None
        fell_back: tuple[str, str] | None = None  # (from variant, reason)
        try:
            attrs, inference_id = _check_headers(headers)
            self._refresh_weights()
            variant = self._choose(headers.get(H_VARIANT))
            variant_name = variant.name
            body = await self._read(scope, receive, headers)
            content_type = codecs.media_type(headers.get("content-type"))
            accept = codecs.accept_type(headers.get("accept"), content_type)
            batcher, signature = await self._batcher(variant, headers.get(H_MODEL))
            if len(body) < INLINE_BODY_BYTES:
                rows = signature.parse(body, content_type)
                if variant.fallback is None:
                    predictions = await batcher.submit(rows, timeout=self.timeout)
                else:
                    predictions, fell_back = await self._with_fallback(variant, batcher, rows, body, content_type)
                    if fell_back is not None:
                        variant_name = variant.fallback["variant"]
                out = codecs.encode(predictions, accept)
            else:  # a large body: parse, predict and encode on the thread pool, not the event loop
                out = await invoke_large(self.executor, batcher, signature, body, content_type, accept, self.timeout)
        except ForgeError as exc:
            status = exc.http_status if exc.http_status < 500 else 500
            seconds = time.perf_counter() - t0
            self.metrics.error(variant_name, status, seconds)
            response = _error(status, exc.kind, exc.message)
            if variant_name != "-":
                response[1].append((INVOKED, variant_name.encode()))
            if rows is not None and status >= 424:  # the model failed: the shadow's copy still counts
                self._copy(scope, variant_name, rows, body, headers, "application/json", inference_id,
                           {"status": status, "latency_ms": seconds * 1000, "predictions": None, "error": exc.message})  # fmt: skip
            return response
        except Exception as exc:
            log.exception("invocation failed")
            self.metrics.error(variant_name, 500, time.perf_counter() - t0)
            return _error(500, "InternalFailure", f"{type(exc).__name__}: {exc}")
        if self.capture is not None and self.capture.sampled():
            self.capture.write(variant_name, body, headers.get("content-type") or content_type, out, accept, inference_id)
        response_headers = [(b"content-type", accept.encode()), (INVOKED, variant_name.encode())]
        if attrs is not None:
            response_headers.append((H_ATTRS.encode(), attrs.encode()))
        if fell_back is not None:
            response_headers += [(FALLBACK_FROM, fell_back[0].encode()), (FALLBACK_REASON, fell_back[1].encode())]
        seconds = time.perf_counter() - t0
        self.metrics.observe(variant_name, seconds)
        if rows is not None:
            self._copy(scope, variant_name, rows, body, headers, accept, inference_id,
                       {"status": 200, "latency_ms": seconds * 1000, "predictions": predictions[:MAX_ROWS_KEPT]})  # fmt: skip
        return 200, response_headers, out

    async def _with_fallback(
        self, variant: _Variant, batcher: MicroBatcher, rows: list[list[Any]], body: bytes, content_type: str
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """The variant's predictions, or its fallback's when it is slower than ``latency_ms`` or
        (``on_error``) fails with a model error; input errors are the caller's and raise."""
        fb = variant.fallback
        assert fb is not None
        try:
            return await asyncio.wait_for(batcher.submit(rows, timeout=self.timeout), fb["latency_ms"] / 1000.0), None
        except TimeoutError:
            reason = "latency"
        except ForgeError as exc:
            if exc.http_status < 424 or not fb.get("on_error", True):
                raise
            reason = "error"
        target = self.variants[fb["variant"]]
        self.metrics.fallbacks.labels(self.endpoint, variant.name, target.name, reason).inc()
        other, signature = await self._batcher(target, None)
        same = target.signature is variant.signature
        return await other.submit(rows if same else signature.parse(body, content_type), timeout=self.timeout), (variant.name, reason)

    def _copy(
        self, scope: dict[str, Any], variant: str, rows: list[list[Any]], body: bytes, headers: dict[str, str],
        accept: str, inference_id: str | None, production: dict[str, Any],
    ) -> None:  # fmt: skip
        """Mark this request for its shadow variants' copies, sent after the response."""
        if self.shadow is None:
            return
        targets = self.shadow.jobs(variant)
        if targets:
            production["variant"] = variant
            scope["forgeml.shadow"] = (targets, {
                "time": time.time(), "rows": rows, "body": body, "accept": accept, "inference_id": inference_id,
                "content_type": headers.get("content-type") or "application/json", "production": production,
            })  # fmt: skip


def _publisher(runtime: dict[str, Any]) -> Any:
    """The metrics-store publisher when the server knows its workspace's database."""
    url = os.environ.get("FORGEML_DATABASE_URL")
    if not url or not runtime.get("metrics_publish_seconds"):
        return None
    from forgeml.alarms._publish import MetricsPublisher

    return MetricsPublisher(runtime["endpoint"], url, float(runtime["metrics_publish_seconds"]))


def _threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _check_headers(headers: dict[str, str]) -> tuple[str | None, str | None]:
    attrs = headers.get(H_ATTRS)
    if attrs is not None and (len(attrs) > 1024 or any(not (32 <= ord(c) <= 126) for c in attrs)):
        raise ValidationError("X-Amzn-SageMaker-Custom-Attributes must be at most 1024 visible ASCII characters")
    inference_id = headers.get(H_INFERENCE)
    if inference_id is not None and (
        not 1 <= len(inference_id) <= 64 or inference_id[0].isspace() or any(not (32 <= ord(c) <= 126) for c in inference_id)
    ):
        raise ValidationError("X-Amzn-SageMaker-Inference-Id must be 1-64 visible ASCII characters")
    return attrs, inference_id


def _error(status: int, kind: str, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return status, [(b"content-type", b"application/json")], orjson.dumps({"error": kind, "message": message})


def create_from_env() -> EndpointApp:
    """App factory for uvicorn workers: reads the runtime spec named by FORGEML_ENDPOINT_RUNTIME."""
    from forgeml.serving._serve import MASTER_VAR, die_with_parent

    master = os.environ.get(MASTER_VAR, "")
    if master.isdigit() and int(master) != os.getpid():  # a worker of a multi-worker server
        die_with_parent(int(master))
    path = os.environ["FORGEML_ENDPOINT_RUNTIME"]
    with open(path, "rb") as fh:
        return EndpointApp(orjson.loads(fh.read()))


__all__ = ["EndpointApp", "create_from_env"]
