"""``/endpoints/{name}/async-invocations``: SageMaker's ``InvokeEndpointAsync`` and what follows it.

``POST`` queues one request and answers **202** with ``InferenceId``, ``OutputLocation`` and
``FailureLocation`` (also as the ``X-Amzn-SageMaker-OutputLocation`` and
``X-Amzn-SageMaker-FailureLocation`` headers). The payload is either ``Body`` (text, at most
128,000 bytes) or ``InputLocation``: a dataset (``dataset/NAME:VERSION``) or an uploaded artifact
(``artifact/<digest>``); a server path is refused (403) unless it lies in an allowed data root.
At start-up the app resumes the dispatchers of endpoints with pending requests.
``GET .../{inference_id}`` shows the request's state, ``GET .../{inference_id}/result`` what it
wrote, and ``GET /endpoints/{name}/async-backlog`` the queue-depth metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.serving._async_config import (
    DEFAULT_INVOCATION_TIMEOUT_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_INVOCATION_TIMEOUT_SECONDS,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
)

router = APIRouter(prefix="/endpoints", tags=["endpoints"])
log = logging.getLogger("forgeml.api")


@contextlib.asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """At start-up, resume the dispatchers of endpoints with queued requests (after a crash or a
    restart of ``forgeml server`` nothing waits for the next request to be picked up)."""
    ws = getattr(app.state, "workspace", None)
    if ws is not None:
        try:
            started = await asyncio.to_thread(ws.async_inference.resume)
            if started:
                log.info("resumed async dispatchers of %s", ", ".join(started))
        except Exception as exc:  # a queue that is down must not keep the server from starting
            log.warning("could not resume async dispatchers: %s", exc)
    yield


router.lifespan_context = _lifespan  # merged into the app's lifespan by include_router


class InvokeEndpointAsync(BaseModel):
    """``POST /endpoints/{name}/async-invocations``: one request, as ``InvokeEndpointAsync`` takes it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    Body: str | None = Field(None, description="The payload inline (at most 128,000 bytes as UTF-8); or give InputLocation")
    InputLocation: str | None = Field(
        None, max_length=1024, description="dataset/NAME:VERSION or artifact/<digest> holding the payload",
        json_schema_extra=reaches("data", "a dataset or artifact reference; a file only inside allowed_data_roots"),
    )  # fmt: skip
    ContentType: str = Field("application/json", max_length=200)
    Accept: str | None = Field(None, max_length=200)
    CustomAttributes: str | None = Field(None, max_length=1024)
    InferenceId: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")
    RequestTTLSeconds: int = Field(DEFAULT_TTL_SECONDS, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS)
    InvocationTimeoutSeconds: int = Field(DEFAULT_INVOCATION_TIMEOUT_SECONDS, ge=1, le=MAX_INVOCATION_TIMEOUT_SECONDS)


@router.post("/{name}/async-invocations", status_code=202, responses=errors(403, 404, 409, 413))
def invoke_endpoint_async(name: str, body: InvokeEndpointAsync, response: Response, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Queue the request; 202 with where its answer (or error) will be written."""
    out = ws.async_inference.invoke_async(
        name, body.Body, input_location=body.InputLocation, content_type=body.ContentType, accept=body.Accept,
        custom_attributes=body.CustomAttributes, inference_id=body.InferenceId,
        request_ttl_seconds=body.RequestTTLSeconds, invocation_timeout_seconds=body.InvocationTimeoutSeconds,
    )  # fmt: skip
    response.headers["X-Amzn-SageMaker-OutputLocation"] = out["OutputLocation"]
    response.headers["X-Amzn-SageMaker-FailureLocation"] = out["FailureLocation"]
    return dict(out)


@router.get("/{name}/async-invocations/{inference_id}", responses=errors(404))
def get_async_invocation(name: str, inference_id: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """The request's state: Queued, InProgress, Completed or Failed (with FailureReason)."""
    return dict(ws.async_inference.get(name, inference_id))


@router.get("/{name}/async-invocations/{inference_id}/result", responses=errors(404, 409), response_class=Response)
def get_async_result(name: str, inference_id: str, ws: Workspace = Depends(get_workspace)) -> Response:
    """What the request wrote: the endpoint's answer, or the error document of a failed one."""
    state = ws.async_inference.get(name, inference_id)
    data = ws.async_inference.result(name, inference_id)
    kind = "application/json" if state["Status"] == "Failed" else None
    return Response(content=data, media_type=kind or "application/octet-stream", headers={"X-ForgeML-Async-Status": state["Status"]})


@router.get("/{name}/async-backlog", responses=errors(404))
def async_backlog(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``ApproximateBacklogSize`` and ``ApproximateBacklogSizePerInstance`` of the endpoint's queue."""
    return dict(ws.async_inference.backlog(name))
