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

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.serving._serve import KEEPALIVE_SECONDS
from forgeml.errors import BackendUnavailableError, PayloadTooLargeError, ValidationError

router = APIRouter(prefix="/endpoints", tags=["endpoints"])

_FORWARD = (
    "content-type", "accept", "x-amzn-sagemaker-target-variant", "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-inference-id",
)  # fmt: skip
_BACK = ("content-type", "x-amzn-invoked-production-variant", "x-amzn-sagemaker-custom-attributes")
_LOOKUP_TTL = 1.0


class CreateEndpoint(BaseModel):
    """``POST /endpoints``: a name and an endpoint config (see docs/endpoints.md)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    variants: list[dict[str, Any]] = Field(min_length=1, json_schema_extra=reaches("nested", "model and model_dir are checked as models"))
    data_capture: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "destination is checked as an output"))
    batching: dict[str, Any] | None = None
    max_payload_mb: float | None = None
    invocation_timeout_seconds: float | None = None
    trusted: bool | None = None  # False: only ONNX models, never unpickle

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"name"}).items() if v is not None}


class UpdateEndpoint(BaseModel):
    """``PUT /endpoints/{name}``: the new endpoint config."""

    model_config = ConfigDict(extra="forbid")
    variants: list[dict[str, Any]] = Field(min_length=1, json_schema_extra=reaches("nested", "model and model_dir are checked as models"))
    data_capture: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "destination is checked as an output"))
    batching: dict[str, Any] | None = None
    max_payload_mb: float | None = None
    invocation_timeout_seconds: float | None = None
    trusted: bool | None = None  # False: only ONNX models, never unpickle

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


@router.get("")
def list_endpoints(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.endpoints.list()]


@router.post("", status_code=201)
def create_endpoint(body: CreateEndpoint, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.create(body.name, body.config()).to_dict()


@router.get("/{name}")
def get_endpoint(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.get(name).to_dict()


@router.put("/{name}")
def update_endpoint(name: str, body: UpdateEndpoint, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.update(name, body.config()).to_dict()


class UpdateWeights(BaseModel):
    """``POST /endpoints/{name}/weights``: new traffic weights by variant name."""

    model_config = ConfigDict(extra="forbid")
    weights: dict[str, float] = Field(min_length=1)


@router.post("/{name}/weights")
def update_weights(name: str, body: UpdateWeights, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.endpoints.update_weights(name, body.weights).to_dict()


@router.delete("/{name}")
def delete_endpoint(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.endpoints.delete(name)
    return {"name": name, "deleted": True}


@router.get("/{name}/logs", response_class=PlainTextResponse)
def endpoint_logs(name: str, ws: Workspace = Depends(get_workspace)) -> str:
    return "\n".join(ws.endpoints.logs(name))


class _Proxy:
    """One HTTP client and a short-lived cache of where each endpoint serves.

    Inside the app's lifespan (``forgeml server``, ``with TestClient(app)``) the client keeps a
    pool of keep-alive connections to the endpoints' servers, opened on the lifespan's event loop
    and closed when it ends: a new loopback connection per request capped the proxy at about a
    tenth of the endpoint's own rate (benchmarks/bench_proxy.py). Outside a lifespan each request
    may run on an event loop of its own, so the client keeps no connection open behind it.
    """

    def __init__(self, pooled: bool = False) -> None:
        self._urls: dict[str, tuple[float, str]] = {}
        self._client: Any = None
        self.pooled = pooled

    def client(self) -> Any:
        import httpx

        if self._client is None:
            keep = 256 if self.pooled else 0
            # idle connections are dropped before the endpoint's server closes them (uvicorn's
            # keep-alive timeout, set in serving/_serve.py), so a pooled request never races a close
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=keep, keepalive_expiry=KEEPALIVE_SECONDS - 1)
            self._client = httpx.AsyncClient(timeout=None, limits=limits)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def url(self, ws: Workspace, name: str) -> str:
        hit = self._urls.get(name)
        now = time.monotonic()
        if hit is not None and now - hit[0] < _LOOKUP_TTL:
            return hit[1]
        record = await asyncio.to_thread(ws.endpoints.serving, name)
        url = str(record.data["url"])
        self._urls[name] = (now, url)
        return url

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


def _proxy(request: Request) -> _Proxy:
    proxy = getattr(request.app.state, "endpoint_proxy", None)
    if proxy is None:
        proxy = request.app.state.endpoint_proxy = _Proxy()
    return proxy


def _forwarded(request: Request) -> list[tuple[bytes, bytes]]:
    """The SageMaker headers to pass on, as the bytes that came in.

    Raises:
        ValidationError: a value holds anything but visible ASCII (an HTTP header value is
            bytes; a server must not guess their encoding, and the endpoint would refuse them).
    """
    out = []
    for key, value in request.headers.raw:
        name = key.decode("latin-1").lower()
        if name not in _FORWARD:
            continue
        if any(not (32 <= b <= 126 or b == 9) for b in value):
            raise ValidationError(f"header {key.decode('latin-1')} must be visible ASCII characters; it holds other bytes")
        out.append((key, value))
    return out


@router.post("/{name}/invocations")
async def invoke_endpoint(name: str, request: Request, ws: Workspace = Depends(get_workspace)) -> Response:
    """SageMaker ``InvokeEndpoint``: the endpoint's answer, status and headers unchanged."""
    import httpx

    limit = int(ws.settings.max_payload_mb * 1024 * 1024)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"payload of {int(length)} bytes exceeds the limit of {limit} bytes")
    headers = _forwarded(request)
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(f"payload exceeds the limit of {limit} bytes")
    proxy = _proxy(request)
    url = await proxy.url(ws, name)
    try:
        answer = await proxy.client().post(
            f"{url}/invocations", content=body, headers=headers, timeout=ws.settings.invocation_timeout_seconds + 5
        )
    except httpx.HTTPError as exc:
        proxy.forget(name)
        raise BackendUnavailableError(f"endpoint {name!r} did not answer: {type(exc).__name__}") from None
    back = {k: v for k, v in answer.headers.items() if k in _BACK}
    return Response(content=answer.content, status_code=answer.status_code, headers=back)
