"""The async dispatcher of one endpoint: takes queued requests to the endpoint's workers.

One dispatcher process runs per endpoint (``python -m forgeml.serving._async_worker NAME``,
started by :class:`~forgeml.serving._async_service.AsyncInferenceService` when a request is
queued); an exclusive lock on ``async/<NAME>.lock`` keeps a second one from starting. It keeps
``MaxConcurrentInvocationsPerInstance x worker processes`` requests in flight, each one:

1. past ``RequestTTLSeconds``, or delivered more than :data:`MAX_ATTEMPTS` times: Failed, with
   the reason;
2. otherwise its payload is read and posted to the endpoint's server with the request's
   ``InvocationTimeoutSeconds``; the answer is written to the output location, or an error
   document (``{"error", "message", "inference_id"}``) to the failure location;
3. then the queue records the outcome; only the first completion of a request (see
   :meth:`AsyncQueue.complete`) sends the event and the webhook, so a redelivered request is
   answered once. A dispatcher killed between writing and completing leaves the request to be
   redelivered after its visibility deadline; the rewrite of the same location is harmless.

While the endpoint's server cannot be reached the request is left in flight (it comes back after
its deadline) and the dispatcher looks the endpoint up again. Once the endpoint is Failed (its
server died), every pending request fails as ``EndpointFailed`` with the endpoint's reason. The
dispatcher exits when the endpoint is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from forgeml.errors import BackendUnavailableError, ConflictError, ForgeError, NotFoundError
from forgeml.serving._async_config import MAX_ATTEMPTS, AsyncInferenceConfig
from forgeml.serving._async_io import read_input, read_location, write_location
from forgeml.serving._async_queue import AsyncQueue, AsyncRequest, State

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.serving.async")
REFRESH_SECONDS = 1.0
POLL_SECONDS = 0.05


def lock_path(ws: Workspace, endpoint: str) -> Path:
    return ws.settings.resolved_home / "async" / f"{endpoint}.lock"


def endpoint_config(record: Any) -> AsyncInferenceConfig:
    """The endpoint version's async settings (the defaults when its config has none)."""
    return AsyncInferenceConfig.model_validate((record.spec or {}).get("async_inference") or {})


class Dispatcher:
    """Moves one endpoint's queued requests through its workers until ``stop`` is set."""

    def __init__(self, ws: Workspace, endpoint: str, queue: AsyncQueue) -> None:
        import httpx

        self.ws, self.endpoint, self.queue = ws, endpoint, queue
        from forgeml.security._tls import client_verify

        self.http = httpx.Client(
            timeout=30.0, limits=httpx.Limits(max_connections=2048, max_keepalive_connections=256),
            verify=client_verify(ws.settings),  # endpoints speak HTTPS when TLS is set
        )  # fmt: skip
        self._url: str | None = None
        self._capacity = 1
        self._instances = 1
        self._config = AsyncInferenceConfig()
        self._checked = 0.0
        self._inflight = 0
        self.failed: str | None = None  # why the endpoint cannot serve again (it is Failed)
        self._cond = threading.Condition()
        self.gone = False

    # the endpoint ------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Look the endpoint up again (at most once a second unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._checked < REFRESH_SECONDS:
            return
        self._checked = now
        try:
            record = self.ws.endpoints.serving(self.endpoint)
        except NotFoundError:
            self.gone, self._url = True, None
            return
        except ConflictError:  # Creating, Failed, ...: nothing to send to
            self._url = None
            try:
                latest = self.ws.endpoints.get(self.endpoint)
            except NotFoundError:
                self.gone = True
                return
            if latest.status == "Failed":
                self.failed = f"endpoint {self.endpoint!r} is Failed: {latest.data.get('failure_reason') or 'its server stopped'}"
            return
        self.failed = None
        self._config = endpoint_config(record)
        self._instances = int(record.data.get("workers", 1))  # 0: scaled to zero, requests wait queued
        self._capacity = self._config.max_concurrent_invocations_per_instance * max(1, self._instances)
        self._url = str(record.data["url"])
        from forgeml.security._guard import token_headers

        self._token = token_headers(record.data)

    # the loop ----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.announce_unnotified()  # outcomes a killed dispatcher recorded but did not announce
        with ThreadPoolExecutor(max_workers=1024, thread_name_prefix="async") as pool:
            while not stop.is_set():
                self.refresh()
                if self.gone:
                    break
                if (self._url is None or self._instances == 0) and self.failed is None:
                    stop.wait(0.2 if self._url is None else POLL_SECONDS)
                    continue
                with self._cond:
                    if self._inflight >= self._capacity:
                        self._cond.wait(0.2)
                        continue
                request = self.queue.claim(self.endpoint, time.time())
                if request is None:
                    stop.wait(POLL_SECONDS)
                    continue
                with self._cond:
                    self._inflight += 1
                pool.submit(self._process, request, self._url or "")

    def _process(self, request: AsyncRequest, url: str) -> None:
        try:
            self.process(request, url)
        except Exception:  # one request's bug must not stop the dispatcher; it is redelivered
            log.exception("async request %s of %s failed unexpectedly", request.inference_id, self.endpoint)
        finally:
            with self._cond:
                self._inflight -= 1
                self._cond.notify()

    def process(self, request: AsyncRequest, url: str) -> None:
        """Run one claimed request to its outcome (or leave it for redelivery)."""
        import httpx

        from forgeml.serving._client import raise_for

        now = time.time()
        if now > request.expires_at:
            waited = now - request.enqueued_at
            ttl = request.expires_at - request.enqueued_at
            return self._fail(request, "RequestExpired", f"the request waited {waited:.0f} s in the queue, past its RequestTTLSeconds of {ttl:.0f} s")
        if request.attempts > MAX_ATTEMPTS:
            return self._fail(request, "RequestAbandoned", f"delivered {MAX_ATTEMPTS} times without an answer "
                              "(each worker stopped or the endpoint was unreachable); not retried again")  # fmt: skip
        if self.failed is not None:
            return self._fail(request, "EndpointFailed", self.failed)
        try:
            body = request.body if request.body is not None else read_input(self.ws, str(request.input_location), request.content_type)
        except ForgeError as exc:
            return self._fail(request, type(exc).__name__, exc.message)
        headers = {"Content-Type": request.content_type, "X-Amzn-SageMaker-Inference-Id": request.inference_id,
                   **getattr(self, "_token", {})}  # fmt: skip
        if request.accept:
            headers["Accept"] = request.accept
        if request.custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = request.custom_attributes
        try:
            response = self.http.post(f"{url}/invocations", content=body, headers=headers, timeout=request.invocation_timeout)
        except httpx.TimeoutException:
            return self._fail(request, "InvocationTimeout", f"no answer within its InvocationTimeoutSeconds of {request.invocation_timeout:g} s")
        except httpx.HTTPError as exc:  # the server is down or moving: redelivered after the deadline
            log.warning("endpoint %s did not answer (%s); request %s waits for redelivery", self.endpoint, exc, request.inference_id)
            self.refresh(force=True)
            if self.failed is not None:  # it will not come back: answer now rather than after the deadline
                return self._fail(request, "EndpointFailed", self.failed)
            return None
        if response.status_code != 200:
            try:
                raise_for(response.status_code, response.content)
            except BackendUnavailableError:  # a 5xx: the server is in trouble, try again later
                self.refresh(force=True)
                return None
            except ForgeError as exc:
                return self._fail(request, type(exc).__name__, exc.message)
        write_location(request.output_location, response.content)
        self._finish(request, "Completed", None, response.content)
        return None

    # outcomes --------------------------------------------------------------------------------
    def _fail(self, request: AsyncRequest, error: str, message: str) -> None:
        document = {"error": error, "message": message, "inference_id": request.inference_id, "endpoint": self.endpoint}
        write_location(request.failure_location, orjson.dumps(document))
        self._finish(request, "Failed", f"{error}: {message}", None)

    def _finish(self, request: AsyncRequest, state: State, reason: str | None, answer: bytes | None) -> None:
        if not self.queue.complete(self.endpoint, request.inference_id, state, time.time(), reason):
            return  # another delivery answered it first
        self._announce(request, state, reason, answer)

    def _announce(self, request: AsyncRequest, state: str, reason: str | None, answer: bytes | None) -> None:
        """Webhook, then the event, then mark the request notified (the outbox's last step)."""
        data: dict[str, Any] = {"inference_id": request.inference_id, "attempts": request.attempts}
        if state == "Completed":
            data["output_location"] = request.output_location
        else:
            data.update(failure_location=request.failure_location, reason=reason)
        from forgeml.serving._async_notify import notify

        data["webhook"] = notify(self.ws, self._config.notification, state, data, answer)
        self.ws.metadata.append_event(f"endpoint/{self.endpoint}", f"AsyncInference{state}", data)
        self.queue.mark_notified(self.endpoint, request.inference_id)

    def announce_unnotified(self) -> int:
        """Announce the outcomes a dispatcher killed after recording them left unannounced: the
        event exactly once (skipped when the dead one wrote it before it died), the webhook at
        least once (it may have been called just before the kill). Runs before any claim, while
        this process holds the endpoint's dispatcher lock."""
        pending = self.queue.unnotified(self.endpoint)
        if not pending:
            return 0
        self.refresh(force=True)
        announced = {e.data.get("inference_id") for e in self.ws.metadata.list_events(resource=f"endpoint/{self.endpoint}")
                     if e.type in ("AsyncInferenceCompleted", "AsyncInferenceFailed")}  # fmt: skip
        for request in pending:
            if request.inference_id in announced:
                self.queue.mark_notified(self.endpoint, request.inference_id)
                continue
            answer = None
            if request.state == "Completed":
                with contextlib.suppress(Exception):  # the answer is written before completion; included when it is there
                    answer = read_location(request.output_location)
            self._announce(request, request.state, request.failure_reason, answer)
        return len(pending)

def main(argv: list[str]) -> int:
    """``python -m forgeml.serving._async_worker ENDPOINT``: run until the endpoint is gone or SIGTERM."""
    from forgeml.core.workspace import Workspace
    from forgeml.serving._async_queue import open_queue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    endpoint = argv[0]
    ws = Workspace(reconcile=False, migrate=False)
    path = lock_path(ws, endpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another dispatcher serves this endpoint
    os.ftruncate(handle, 0)
    os.write(handle, str(os.getpid()).encode())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    queue = open_queue(ws.settings)
    try:
        Dispatcher(ws, endpoint, queue).run(stop)
    finally:
        queue.close()
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
