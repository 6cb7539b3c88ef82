"""Serving: real-time endpoints (variants, multi-model, capture, micro-batching) and batch transform."""

from forgeml.serving._client import Invocation
from forgeml.serving._config import BatchingConfig, DataCaptureConfig, EndpointConfig, VariantConfig
from forgeml.serving._service import EndpointService

__all__ = [
    "BatchingConfig",
    "DataCaptureConfig",
    "EndpointConfig",
    "EndpointService",
    "Invocation",
    "VariantConfig",
]
