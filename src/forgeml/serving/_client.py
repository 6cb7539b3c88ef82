"""Invoking an endpoint over HTTP, with its error answers turned back into ForgeErrors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from forgeml.errors import (
    BackendUnavailableError,
    ConflictError,
    ForbiddenError,
    ForgeError,
    ModelError,
    NotFoundError,
    PayloadTooLargeError,
    ThrottlingError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from forgeml.serving._codecs import NotAcceptableError

_BY_STATUS: dict[int, type[ForgeError]] = {
    400: ValidationError, 401: UnauthenticatedError, 403: ForbiddenError, 404: NotFoundError, 406: NotAcceptableError,
    409: ConflictError, 413: PayloadTooLargeError, 415: UnsupportedMediaTypeError, 424: ModelError, 429: ThrottlingError,
}  # fmt: skip


@dataclass(frozen=True)
class Invocation:
    """An endpoint's answer to one invocation."""

    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None = None
    fallback_from: str | None = None  # X-Forgeml-Fallback-From: the variant that handed it on
    fallback_reason: str | None = None  # "latency" or "error"

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.body)


def raise_for(status: int, body: bytes) -> None:
    """Raise the ForgeError for an error answer ``{"error": ..., "message": ...}``."""
    try:
        message = str(orjson.loads(body).get("message") or body[:200].decode(errors="replace"))
    except (orjson.JSONDecodeError, AttributeError):
        message = body[:200].decode(errors="replace") or f"HTTP {status}"
    raise _BY_STATUS.get(status, BackendUnavailableError)(message)


class EndpointClient:
    """A keep-alive HTTP client for endpoint servers."""

    def __init__(self, timeout: float = 65.0, verify: Any = True) -> None:
        import httpx

        self._http = httpx.Client(timeout=timeout, verify=verify)

    def invoke(
        self,
        url: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        accept: str | None = None,
        target_variant: str | None = None,
        target_model: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Invocation:
        import httpx

        headers = {"Content-Type": content_type, **(extra_headers or {})}
        for key, value in (
            ("Accept", accept), ("X-Amzn-SageMaker-Target-Variant", target_variant),
            ("X-Amzn-SageMaker-Target-Model", target_model),
            ("X-Amzn-SageMaker-Custom-Attributes", custom_attributes),
            ("X-Amzn-SageMaker-Inference-Id", inference_id),
        ):  # fmt: skip
            if value is not None:
                headers[key] = value
        try:
            response = self._http.post(f"{url}/invocations", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"endpoint server at {url} did not answer: {exc}") from None
        if response.status_code != 200:
            raise_for(response.status_code, response.content)
        return Invocation(
            response.content, response.headers.get("content-type", ""),
            response.headers.get("x-amzn-invoked-production-variant", ""),
            response.headers.get("x-amzn-sagemaker-custom-attributes"),
            response.headers.get("x-forgeml-fallback-from"), response.headers.get("x-forgeml-fallback-reason"),
        )  # fmt: skip

    def close(self) -> None:
        self._http.close()


__all__ = ["EndpointClient", "Invocation", "raise_for"]
