"""Serving: real-time endpoints (variants, multi-model, capture, micro-batching) and batch transform."""

from forgeml.serving._client import Invocation
from forgeml.serving._config import BatchingConfig, DataCaptureConfig, EndpointConfig, VariantConfig
from forgeml.serving._service import EndpointService
from forgeml.serving._transform_config import TransformConfig
from forgeml.serving._transform_service import TransformService

__all__ = [
    "BatchingConfig",
    "DataCaptureConfig",
    "EndpointConfig",
    "EndpointService",
    "Invocation",
    "TransformConfig",
    "TransformService",
    "VariantConfig",
]
