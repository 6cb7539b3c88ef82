"""``/endpoints``: manage real-time endpoints, and the SageMaker runtime path
``POST /endpoints/{name}/invocations`` proxied to the endpoint's own server process.

The proxy forwards the body and the SageMaker headers unchanged and answers with the endpoint's
status, body and headers, so a client sees the same semantics whether it calls ``forgeml server``
or the endpoint's port. Where each endpoint serves is looked up once a second at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.errors import (
    BackendUnavailableError,
    ForgeError,
    PayloadTooLargeError,
    ValidationError,
    http_status,
)
from forgeml.serving._serve import KEEPALIVE_SECONDS
from forgeml.serving._upstream import Answer, UpstreamError, UpstreamPool

router = APIRouter(prefix="/endpoints", tags=["endpoints"])

_FORWARD = (
    "content-type", "accept", "x-amzn-sagemaker-target-variant", "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-inference-id",
)  # fmt: skip
_BACK = (b"content-type", b"x-amzn-invoked-production-variant", b"x-amzn-sagemaker-custom-attributes",
         b"x-forgeml-fallback-from", b"x-forgeml-fallback-reason")  # fmt: skip
_LOOKUP_TTL = 1.0
_PREFIX, _SUFFIX = "/endpoints/", "/invocations"


class CreateEndpoint(BaseModel):
    """``POST /endpoints``: a name and an endpoint config (see docs/endpoints.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    variants: list[dict[str, Any]] = Field(min_length=1, json_schema_extra=reaches("nested", "model and model_dir are checked as models"))
    data_capture: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "destination is checked as an output"))
    batching: dict[str, Any] | None = None
    max_payload_mb: float | None = None
    invocation_timeout_seconds: float | None = None
    trusted: bool | None = None  # False: only ONNX models, never unpickle
    async_inference: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "output_path and failure_path are checked as outputs"))
    shadow_variants: list[dict[str, Any]] | None = Field(None, max_length=10, json_schema_extra=reaches("nested", "model is checked as a model"))

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"name"}).items() if v is not None}


class UpdateEndpoint(BaseModel):
    """``PUT /endpoints/{name}``: the new endpoint config."""

    model_config = ConfigDict(extra="forbid", strict=True)
    variants: list[dict[str, Any]] = Field(min_length=1, json_schema_extra=reaches("nested", "model and model_dir are checked as models"))
    data_capture: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "destination is checked as an output"))
    batching: dict[str, Any] | None = None
    max_payload_mb: float | None = None
    invocation_timeout_seconds: float | None = None
    trusted: bool | None = None  # False: only ONNX models, never unpickle
    deployment_config: dict[str, Any] | None = Field(None, json_schema_extra=reaches("name", "SageMaker's DeploymentConfig: alarm and variant names, no location"))
    async_inference: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "output_path and failure_path are checked as outputs"))
    shadow_variants: list[dict[str, Any]] | None = Field(None, max_length=10, json_schema_extra=reaches("nested", "model is checked as a model"))

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"deployment_config"}).items() if v is not None}


@router.get("", responses=errors())
def list_endpoints(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.endpoints.list()]


@router.post("", status_code=201, responses=errors(403, 404, 409))
def create_endpoint(body: CreateEndpoint, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.create(body.name, body.config()).to_dict()


@router.get("/{name}", responses=errors(404))
def get_endpoint(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.get(name).to_dict()


@router.put("/{name}", responses=errors(403, 404, 409))
def update_endpoint(name: str, body: UpdateEndpoint, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """The new version InService; with ``deployment_config`` the answer comes when the deployment
    completed or rolled back (``data.last_deployment`` says which and why)."""
    return ws.endpoints.update(name, body.config(), deployment_config=body.deployment_config).to_dict()


@router.get("/{name}/deployment", responses=errors(404))
def endpoint_deployment(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """The endpoint's latest deployment: its state and each step with its times."""
    return ws.endpoints.deployment(name).to_dict()


class UpdateWeights(BaseModel):
    """``POST /endpoints/{name}/weights``: new traffic weights by variant name."""

    model_config = ConfigDict(extra="forbid", strict=True)
    weights: dict[str, float] = Field(min_length=1)


@router.post("/{name}/weights", responses=errors(404, 409))
def update_weights(name: str, body: UpdateWeights, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.update_weights(name, body.weights).to_dict()


@router.delete("/{name}", responses=errors(404, 409))
def delete_endpoint(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.endpoints.delete(name)
    return {"name": name, "deleted": True}


@router.get("/{name}/logs", response_class=PlainTextResponse, responses=errors(404))
def endpoint_logs(name: str, ws: Workspace = Depends(get_workspace)) -> str:
    return "\n".join(ws.endpoints.logs(name))


class _Proxy:
    """Pooled connections to the endpoints' servers and a short-lived cache of where each serves.

    Inside the app's lifespan (``forgeml server``, ``with TestClient(app)``) the pool keeps
    keep-alive connections, opened on the lifespan's event loop and closed when it ends: a new
    loopback connection per request, and before that httpx's client, capped the proxy at a small
    fraction of the endpoint's own rate (benchmarks/bench_proxy.py). Outside a lifespan each
    request may run on an event loop of its own, so no connection is kept open behind it.
    """

    def __init__(self, pooled: bool = False) -> None:
        self._urls: dict[str, tuple[float, tuple[str, int]]] = {}
        self._tokens: dict[str, list[tuple[bytes, bytes]]] = {}
        self._ssl: dict[str, Any] = {}
        # idle connections are dropped before the endpoint's server closes them (uvicorn's
        # keep-alive timeout, set in serving/_serve.py), so a pooled request rarely races a close
        self.pool = UpstreamPool(keep=256 if pooled else 0, idle_seconds=KEEPALIVE_SECONDS - 1)

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def url(self, ws: Workspace, name: str) -> tuple[str, int]:
        hit = self._urls.get(name)
        now = time.monotonic()
        if hit is not None and now - hit[0] < _LOOKUP_TTL:
            return hit[1]
        from forgeml.security._guard import token_headers

        record = await asyncio.to_thread(ws.endpoints.serving, name)
        where = (str(record.data.get("host") or "127.0.0.1"), int(record.data["port"]))
        self._urls[name] = (now, where)
        self._tokens[name] = [(k.encode(), v.encode()) for k, v in token_headers(record.data).items()]
        if record.data.get("tls"):  # the endpoint speaks HTTPS (security/_tls.py): verify it as any client does
            from forgeml.security._tls import client_context

            self._ssl[name] = self._ssl.get(name) or client_context(ws.settings)
        else:
            self._ssl.pop(name, None)
        return where

    def ssl(self, name: str) -> Any:
        """The SSL context for the endpoint's servers, or None for plain HTTP."""
        return self._ssl.get(name)

    def token(self, name: str) -> list[tuple[bytes, bytes]]:
        """The proxy-token header of the endpoint's servers (security/_guard.py), as last looked up."""
        return self._tokens.get(name, [])

    def forget(self, name: str) -> None:
        self._urls.pop(name, None)


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """The app's pooled proxy lives as long as the app serves; its connections close with it."""
    proxy = app.state.endpoint_proxy = _Proxy(pooled=True)
    try:
        yield
    finally:
        await proxy.aclose()
        if getattr(app.state, "endpoint_proxy", None) is proxy:
            del app.state.endpoint_proxy


router.lifespan_context = _lifespan  # merged into the app's lifespan by include_router


def _proxy(state: Any) -> _Proxy:
    proxy = getattr(state, "endpoint_proxy", None)
    if proxy is None:
        proxy = state.endpoint_proxy = _Proxy()
    return proxy


def _forwarded(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The SageMaker headers to pass on, as the bytes that came in.

    Raises:
        ValidationError: a value holds anything but visible ASCII (an HTTP header value is
            bytes; a server must not guess their encoding, and the endpoint would refuse them).
    """
    out = []
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name not in _FORWARD:
            continue
        if any(not (32 <= b <= 126 or b == 9) for b in value):
            raise ValidationError(f"header {key.decode('latin-1')} must be visible ASCII characters; it holds other bytes")
        out.append((key, value))
    return out


async def _invoke(state: Any, ws: Workspace, name: str, raw: list[tuple[bytes, bytes]], chunks: AsyncIterator[bytes]) -> Answer:
    """Check the request, read its body (at most the payload limit) and pass it on.

    Raises:
        ValidationError, PayloadTooLargeError, NotFoundError, ConflictError: the caller's.
        BackendUnavailableError: the endpoint's server did not answer (503).
    """
    limit = int(ws.settings.max_payload_mb * 1024 * 1024)
    length = next((v for k, v in raw if k.lower() == b"content-length"), None)
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"payload of {int(length)} bytes exceeds the limit of {limit} bytes")
    headers = _forwarded(raw)
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"payload exceeds the limit of {limit} bytes")
        parts.append(chunk)
    proxy = _proxy(state)
    host, port = await proxy.url(ws, name)
    try:
        return await proxy.pool.post(
            host, port, "/invocations", headers + proxy.token(name), b"".join(parts), timeout=ws.settings.invocation_timeout_seconds + 5,
            ssl=proxy.ssl(name),
        )
    except UpstreamError as exc:
        proxy.forget(name)
        raise BackendUnavailableError(f"endpoint {name!r} did not answer: {exc}") from None


@router.post("/{name}/invocations", responses=errors(404, 409, 413, 415, 424, 503), openapi_extra={"requestBody": {
    "required": True, "description": "The records to predict, as the endpoint's model takes them (docs/endpoints.md)",
    "content": {"application/json": {"schema": {}}, "text/csv": {"schema": {"type": "string"}}, "application/jsonlines": {"schema": {"type": "string"}}},
}})  # fmt: skip
async def invoke_endpoint(name: str, request: Request, ws: Workspace = Depends(get_workspace)) -> Response:
    """SageMaker ``InvokeEndpoint``: the endpoint's answer, status and headers unchanged.

    ``forgeml server`` answers this path in :class:`InvocationFastPath` before FastAPI routes
    it; this route documents it in the OpenAPI schema and serves apps built without it."""
    answer = await _invoke(request.app.state, ws, name, request.headers.raw, request.stream())
    back = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers if k in _BACK]
    return Response(content=answer.body, status_code=answer.status, headers=dict(back))


class InvocationFastPath:
    """ASGI middleware: ``POST /endpoints/{name}/invocations`` without FastAPI's routing,
    dependency injection and response classes, the hot path of ``forgeml server``.

    FastAPI's per-request cost capped the proxy at about a third of one endpoint worker's rate;
    this path does the same checks, with the same errors, as :func:`invoke_endpoint` (measured
    in benchmarks/bench_proxy.py). Every other request goes on to the app.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
            await self.app(scope, receive, send)
            return
        name = path[len(_PREFIX) : -len(_SUFFIX)]
        if not name or "/" in name:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        if state.workspace.settings.security_enabled:
            # authentication, policy and audit live in the app's dependency (security/_enforce.py)
            await self.app(scope, receive, send)
            return
        try:
            answer = await _invoke(state, state.workspace, name, scope["headers"], _chunks(receive))
            status = answer.status
            headers = [(k, v) for k, v in answer.headers if k in _BACK]
            body = answer.body
        except ForgeError as exc:
            status, headers = http_status(exc), [(b"content-type", b"application/json")]
            body = orjson.dumps({"error": exc.kind, "message": exc.message})
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _chunks(receive: Any) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValidationError("the client went away before sending its whole body")
        yield message.get("body", b"")
        if not message.get("more_body"):
            return
