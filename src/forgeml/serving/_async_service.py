"""``ws.async_inference``: SageMaker's ``InvokeEndpointAsync`` on ForgeML endpoints.

A request is checked (endpoint in service, payload present and within limits, locations allowed),
queued durably (:func:`~forgeml.serving._async_queue.open_queue`: SQLite in the workspace, Redis in
team mode) and answered 202-style with its ``InferenceId``, ``OutputLocation`` and
``FailureLocation``; the endpoint's dispatcher process (started here when none runs, see
:mod:`forgeml.serving._async_worker`) runs it and writes the answer or the error there.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from forgeml.core.refs import name_of
from forgeml.errors import BackendUnavailableError, PayloadTooLargeError, ValidationError
from forgeml.serving._async_config import (
    DEFAULT_INVOCATION_TIMEOUT_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_INLINE_BODY_BYTES,
    MAX_INVOCATION_TIMEOUT_SECONDS,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    AsyncInferenceConfig,
)
from forgeml.serving._async_io import check_input, join, read_location
from forgeml.serving._async_queue import AsyncQueue, AsyncRequest, open_queue
from forgeml.serving._async_worker import endpoint_config, lock_path

if TYPE_CHECKING:
    from forgeml.core.access import Access
    from forgeml.core.workspace import Workspace

_log = logging.getLogger("forgeml.serving.async")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_outputs(access: Access, config: AsyncInferenceConfig) -> None:
    """Over the network an output or failure path must be a URL whose scheme the operator allowed.

    Raises:
        ForbiddenError: a server path, or a URL of a scheme not in ``allowed_url_schemes``.
    """
    for field in ("output_path", "failure_path"):
        value = getattr(config, field)
        if value is None or access.is_local:
            continue
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if not scheme or scheme in ("file", "local") or scheme not in access.url_schemes:
            access.check_output(value, f"async_inference.{field}")  # raises ForbiddenError


class AsyncInferenceService:
    """Queue async invocations, look their outcome up, report the backlog."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    @property
    def queue(self) -> AsyncQueue:
        """The workspace's queue, one per process (shared by the REST API's views)."""
        return self.ws.shared("async-queue", lambda: open_queue(self.ws.settings))

    # invoking ---------------------------------------------------------------------------------
    def invoke_async(
        self,
        name: str,
        body: bytes | str | None = None,
        *,
        input_location: str | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
        request_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        invocation_timeout_seconds: float = DEFAULT_INVOCATION_TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        """Queue one request, like ``InvokeEndpointAsync``; the 202 answer's fields.

        Args:
            body: an inline payload of at most 128,000 bytes, or give ``input_location``.
            input_location: ``artifact/<digest>``, ``dataset/NAME:VERSION`` or (SDK, CLI) a file.
            inference_id: the request's id (unique per endpoint); a new UUID when omitted.

        Raises:
            NotFoundError: no such endpoint, or no such input.
            ConflictError: the endpoint is not in service, or its queue is full.
            AlreadyExistsError: the InferenceId was used already.
            PayloadTooLargeError: a body over 128,000 bytes, an input over the endpoint's limit.
            ValidationError: both or neither of body and input_location; limits out of range.
            ForbiddenError: an input file a network caller may not read.
        """
        name = name_of(name, "endpoint")
        record = self.ws.endpoints.serving(name)
        config = endpoint_config(record)
        data = body.encode() if isinstance(body, str) else body
        if (data is None) == (input_location is None):
            raise ValidationError("give either Body (inline, at most 128000 bytes) or InputLocation, not both or neither")
        if data is not None and len(data) > MAX_INLINE_BODY_BYTES:
            raise PayloadTooLargeError(f"Body holds {len(data)} bytes, more than the {MAX_INLINE_BODY_BYTES} an inline "
                                       "async request may; upload it and give InputLocation instead")  # fmt: skip
        if not MIN_TTL_SECONDS <= request_ttl_seconds <= MAX_TTL_SECONDS:
            raise ValidationError(f"RequestTTLSeconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}, got {request_ttl_seconds:g}")
        if not 1 <= invocation_timeout_seconds <= MAX_INVOCATION_TIMEOUT_SECONDS:
            raise ValidationError(f"InvocationTimeoutSeconds must be between 1 and {MAX_INVOCATION_TIMEOUT_SECONDS}, got {invocation_timeout_seconds:g}")
        for field, value in (("ContentType", content_type), ("Accept", accept), ("CustomAttributes", custom_attributes)):
            if value is not None and (not value.isascii() or not value.isprintable()):
                raise ValidationError(f"{field} must be visible ASCII characters (it becomes a header of the invocation)")
        inference_id = self._inference_id(inference_id)
        location = None
        if input_location is not None:
            limit = int((record.spec.get("max_payload_mb") or self.ws.settings.max_payload_mb) * 1024 * 1024)
            location = check_input(self.ws, input_location, limit)
        output_root, failure_root = self._roots(name, config)
        now = time.time()
        request = AsyncRequest(
            endpoint=name, inference_id=inference_id, output_location=join(output_root, f"{inference_id}.out"),
            failure_location=join(failure_root, f"{inference_id}.error"), enqueued_at=now,
            expires_at=now + request_ttl_seconds, invocation_timeout=float(invocation_timeout_seconds),
            content_type=content_type, accept=accept, custom_attributes=custom_attributes,
            input_location=location, body=data,
        )  # fmt: skip
        self.queue.put(request, max_size=config.max_queue_size)
        if int(record.data.get("workers", 1)) == 0:  # scaled to zero: the first queued request wakes it
            self.ws.scaling.wake(name)
        self.ensure_dispatcher(name)
        return {"InferenceId": inference_id, "OutputLocation": request.output_location, "FailureLocation": request.failure_location}

    def _inference_id(self, value: str | None) -> str:
        if value is None:
            return uuid.uuid4().hex
        if not 1 <= len(value) <= 64 or not set(value) <= _ID_CHARS or value.startswith("."):
            raise ValidationError(f"InferenceId {value[:80]!r} must be 1-64 letters, digits, '-', '_' or '.' (not starting with '.')")
        return value

    def _roots(self, name: str, config: AsyncInferenceConfig) -> tuple[str, str]:
        base = join(self.ws.settings.resolved_artifact_uri, f"async-inference/{name}")
        return config.output_path or join(base, "output"), config.failure_path or join(base, "failure")

    # reading ----------------------------------------------------------------------------------
    def get(self, name: str, inference_id: str) -> dict[str, Any]:
        """A request's state: ``InferenceId``, ``Status`` (Queued, InProgress, Completed, Failed),
        locations, times, attempts and ``FailureReason``.

        Raises:
            NotFoundError: no such endpoint or request.
        """
        name = name_of(name, "endpoint")
        request = self.queue.get(name, inference_id)
        return {
            "InferenceId": request.inference_id, "EndpointName": name, "Status": request.state,
            "OutputLocation": request.output_location, "FailureLocation": request.failure_location,
            "InputLocation": request.input_location, "EnqueuedAt": request.enqueued_at, "ExpiresAt": request.expires_at,
            "FinishedAt": request.finished_at, "Attempts": request.attempts, "FailureReason": request.failure_reason,
        }  # fmt: skip

    def result(self, name: str, inference_id: str) -> bytes:
        """What the request wrote: the answer (Completed) or the error document (Failed).

        Raises:
            NotFoundError: no such request. ConflictError: it has not finished yet.
        """
        from forgeml.errors import ConflictError

        name = name_of(name, "endpoint")
        request = self.queue.get(name, inference_id)
        if request.state == "Completed":
            return read_location(request.output_location)
        if request.state == "Failed":
            return read_location(request.failure_location)
        raise ConflictError(f"async request {inference_id!r} of endpoint {name!r} is {request.state}; it has no result yet")

    def wait(self, name: str, inference_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The request's state once it finished (or after ``timeout`` seconds); starts the
        endpoint's dispatcher if the request is pending and none runs."""
        deadline = time.monotonic() + timeout
        if self.get(name, inference_id)["Status"] in ("Queued", "InProgress"):
            self.ensure_dispatcher(name_of(name, "endpoint"))  # a waiter needs one (it may have died with its machine)
        while True:
            state = self.get(name, inference_id)
            if state["Status"] in ("Completed", "Failed") or time.monotonic() >= deadline:
                return state
            time.sleep(0.1)

    def backlog(self, name: str) -> dict[str, Any]:
        """``ApproximateBacklogSize`` (queued and in flight) and ``ApproximateBacklogSizePerInstance``.

        Raises:
            NotFoundError: no such endpoint.
        """
        record = self.ws.endpoints.get(name)
        size = self.queue.depth(record.name)
        instances = int(record.data.get("workers") or 0) if record.status in ("InService", "Updating") else 0
        return {
            "EndpointName": record.name, "ApproximateBacklogSize": size, "Instances": instances,
            "ApproximateBacklogSizePerInstance": size / instances if instances else float(size),
            "DispatcherRunning": self.dispatcher_pid(record.name) is not None,
        }  # fmt: skip

    # the dispatcher ---------------------------------------------------------------------------
    def dispatcher_pid(self, name: str) -> int | None:
        """The pid of the endpoint's running dispatcher, or None."""
        path = lock_path(self.ws, name)
        if not path.is_file():
            return None
        handle = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a dispatcher runs
            text = path.read_text().strip()
            return int(text) if text.isdigit() else -1
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
        finally:
            os.close(handle)

    def ensure_dispatcher(self, name: str) -> None:
        """Start the endpoint's dispatcher unless one runs (it exits when the endpoint is gone)."""
        if self.dispatcher_pid(name) is not None:
            return
        home = self.ws.settings.resolved_home
        (home / "async").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.ws.settings.to_env(), "PYTHONUNBUFFERED": "1",
               "FORGEML_ALLOWED_WEBHOOK_HOSTS": orjson.dumps(list(self.ws.settings.allowed_webhook_hosts)).decode()}  # fmt: skip
        with open(home / "async" / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "forgeml.serving._async_worker", name], env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )  # fmt: skip
        _STARTED.append(proc)
        deadline = time.monotonic() + 10.0
        while self.dispatcher_pid(name) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop_dispatcher(self, name: str, grace: float = 5.0) -> None:
        """Stop the endpoint's dispatcher (SIGTERM: it finishes what is in flight; SIGKILL after ``grace``)."""
        pid = self.dispatcher_pid(name)
        if pid is None or pid <= 0:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while self.dispatcher_pid(name) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.dispatcher_pid(name) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap()

    def resume(self) -> list[str]:
        """Start the dispatcher of every serving endpoint with pending requests (``forgeml server``
        does at start-up, so requests queued before a crash are answered); the endpoints' names."""
        started = []
        for record in self.ws.endpoints.list():
            if record.status == "InService" and self.queue.depth(record.name) and self.dispatcher_pid(record.name) is None:
                self.ensure_dispatcher(record.name)
                started.append(record.name)
        return started

    def forget(self, name: str) -> None:
        """The endpoint was deleted: stop its dispatcher and drop its queued requests."""
        self.stop_dispatcher(name, grace=2.0)
        try:
            self.queue.drop(name)
        except BackendUnavailableError as exc:  # the endpoint is gone all the same
            _log.warning("could not drop the async requests of endpoint %s: %s", name, exc.message)


# dispatchers this process started, kept so that they are reaped once they exit
_STARTED: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    _STARTED[:] = [p for p in _STARTED if p.poll() is None]


__all__ = ["AsyncInferenceService", "check_outputs"]
