"""``/endpoints``: manage real-time endpoints, and the SageMaker runtime path
``POST /endpoints/{name}/invocations`` proxied to the endpoint's own server process.

The proxy forwards the body and the SageMaker headers unchanged and answers with the endpoint's
status, body and headers, so a client sees the same semantics whether it calls ``forgeml server``
or the endpoint's port. Where each endpoint serves is looked up once a second at most.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.errors import BackendUnavailableError, PayloadTooLargeError

router = APIRouter(prefix="/endpoints", tags=["endpoints"])

_FORWARD = (
    "content-type", "accept", "x-amzn-sagemaker-target-variant", "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-inference-id",
)  # fmt: skip
_BACK = ("content-type", "x-amzn-invoked-production-variant", "x-amzn-sagemaker-custom-attributes")
_LOOKUP_TTL = 1.0


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

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


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
    return ws.endpoints.update(name, body.config()).to_dict()


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
    """Keeps one HTTP client and a short-lived cache of where each endpoint serves."""

    def __init__(self) -> None:
        self._urls: dict[str, tuple[float, str]] = {}
        self._client: Any = None

    def client(self) -> Any:
        import httpx

        if self._client is None:
            # no keep-alive: the client outlives event loops (test clients, reloads) and must not
            # leave sockets open behind it; a loopback connect costs about 0.1 ms
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=0)
            self._client = httpx.AsyncClient(timeout=None, limits=limits)
        return self._client

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


def _proxy(request: Request) -> _Proxy:
    proxy = getattr(request.app.state, "endpoint_proxy", None)
    if proxy is None:
        proxy = request.app.state.endpoint_proxy = _Proxy()
    return proxy


@router.post("/{name}/invocations", responses=errors(404, 409, 413, 415, 424, 503), openapi_extra={"requestBody": {
    "required": True, "description": "The records to predict, as the endpoint's model takes them (docs/endpoints.md)",
    "content": {"application/json": {"schema": {}}, "text/csv": {"schema": {"type": "string"}}, "application/jsonlines": {"schema": {"type": "string"}}},
}})  # fmt: skip
async def invoke_endpoint(name: str, request: Request, ws: Workspace = Depends(get_workspace)) -> Response:
    """SageMaker ``InvokeEndpoint``: the endpoint's answer, status and headers unchanged."""
    import httpx

    limit = int(ws.settings.max_payload_mb * 1024 * 1024)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"payload of {int(length)} bytes exceeds the limit of {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLargeError(f"payload exceeds the limit of {limit} bytes")
    proxy = _proxy(request)
    url = await proxy.url(ws, name)
    headers = {k: v for k, v in request.headers.items() if k in _FORWARD}
    try:
        answer = await proxy.client().post(
            f"{url}/invocations", content=body, headers=headers, timeout=ws.settings.invocation_timeout_seconds + 5
        )
    except httpx.HTTPError as exc:
        proxy.forget(name)
        raise BackendUnavailableError(f"endpoint {name!r} did not answer: {type(exc).__name__}") from None
    back = {k: v for k, v in answer.headers.items() if k in _BACK}
    return Response(content=answer.content, status_code=answer.status_code, headers=back)
