"""``AsyncInferenceConfig``: what makes an endpoint take queued requests, and the limits of one.

The typed form of SageMaker's ``AsyncInferenceConfig`` (``ClientConfig``, ``OutputConfig``,
``NotificationConfig``) plus a queue bound; an endpoint config holds it as ``async_inference``.
An endpoint without one still takes async requests, with these defaults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_INLINE_BODY_BYTES = 128_000  # InvokeEndpointAsync's inline Body
DEFAULT_TTL_SECONDS = 21_600  # RequestTTLSeconds: 6 h
MIN_TTL_SECONDS, MAX_TTL_SECONDS = 60, 21_600
DEFAULT_INVOCATION_TIMEOUT_SECONDS = 900  # InvocationTimeoutSeconds: 15 min
MAX_INVOCATION_TIMEOUT_SECONDS = 3_600
MAX_ATTEMPTS = 3  # deliveries of one request before it fails as abandoned


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotificationConfig(_Strict):
    """Where to announce each answer besides the endpoint's events (``AsyncInferenceCompleted``,
    ``AsyncInferenceFailed``).

    Attributes:
        success_webhook / error_webhook: ``http(s)://`` URLs posted a JSON notification; their host
            must be in the ``allowed_webhook_hosts`` setting, else nothing is sent and the event says why.
        include_inference_response: put the answer (up to 128,000 bytes) in success notifications.
    """

    success_webhook: str | None = None
    error_webhook: str | None = None
    include_inference_response: bool = False

    @field_validator("success_webhook", "error_webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"a webhook must be an http:// or https:// URL, not {value[:100]!r}")
        return value


class AsyncInferenceConfig(_Strict):
    """An endpoint's async settings.

    Attributes:
        max_concurrent_invocations_per_instance: requests in flight per worker process
            (``ClientConfig.MaxConcurrentInvocationsPerInstance``).
        output_path / failure_path: folder or fsspec URL for ``<InferenceId>.out`` and
            ``<InferenceId>.error`` (``S3OutputPath``, ``S3FailurePath``); default: the workspace's
            artifact store under ``async-inference/<endpoint>/``. Over the REST API only URLs whose
            scheme the operator allowed (``allowed_url_schemes``).
        notification: webhooks for answers and errors.
        max_queue_size: pending requests beyond which a new one is refused (409).
    """

    max_concurrent_invocations_per_instance: int = Field(default=4, ge=1, le=1000)
    output_path: str | None = None
    failure_path: str | None = None
    notification: NotificationConfig | None = None
    max_queue_size: int = Field(default=10_000, ge=1, le=10_000_000)


__all__ = [
    "DEFAULT_INVOCATION_TIMEOUT_SECONDS", "DEFAULT_TTL_SECONDS", "MAX_ATTEMPTS", "MAX_INLINE_BODY_BYTES",
    "MAX_INVOCATION_TIMEOUT_SECONDS", "MAX_TTL_SECONDS", "MIN_TTL_SECONDS", "AsyncInferenceConfig", "NotificationConfig",
]  # fmt: skip
