"""Endpoint configurations: production variants, data capture and micro-batching.

These are the typed form of SageMaker's ``CreateEndpointConfig`` request, reduced to what runs on
one machine. A config is validated once, stored as the endpoint version's ``spec`` and never
changed; ``update`` stores a new config as a new version.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forgeml.errors import ValidationError
from forgeml.serving._async_config import AsyncInferenceConfig

_VARIANT = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FallbackConfig(_Strict):
    """Latency fallback of a variant (ForgeML's own; SageMaker has no equivalent).

    Attributes:
        variant: the production variant that answers instead.
        latency_ms: a call to this variant that has no answer after this long goes to the
            fallback (the slow call is abandoned).
        on_error: a model error (424/500) of this variant also goes to the fallback; input
            errors (400, 413, 415) never do: the fallback would refuse them too.
    """

    variant: str
    latency_ms: float = Field(gt=0, le=600_000)
    on_error: bool = True


class VariantConfig(_Strict):
    """One production variant.

    Attributes:
        name: the variant name (SageMaker's ``VariantName``), answered in
            ``X-Amzn-Invoked-Production-Variant``.
        model: single-model variants: a registry reference (``GROUP:VERSION`` or
            ``model/GROUP:VERSION``) or the path of a model package folder.
        mode: ``SingleModel`` or ``MultiModel`` (a folder of packages chosen per request).
        model_dir: multi-model variants: the folder whose subfolders (or ``.tar.gz`` archives)
            are the model packages a request can target with ``X-Amzn-SageMaker-Target-Model``.
        weight: the variant's share of traffic is ``weight / sum(weights)``.
        workers: worker processes this variant adds to the endpoint's pool.
        model_cache_mb: multi-model memory budget; least recently used models are evicted.
        model_cache: ``Disabled`` unloads a multi-model model right after each call.
        fallback: where a request goes when this variant is too slow or fails
            (:class:`FallbackConfig`); the answer names the switch in ``X-Forgeml-Fallback-From``.
    """

    name: str = "AllTraffic"
    model: str | None = None
    mode: Literal["SingleModel", "MultiModel"] = "SingleModel"
    model_dir: str | None = None
    weight: float = Field(default=1.0, ge=0)
    workers: int = Field(default=1, ge=1, le=64)
    model_cache_mb: float = Field(default=1024.0, gt=0)
    model_cache: Literal["Enabled", "Disabled"] = "Enabled"
    fallback: FallbackConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _VARIANT.match(value):
            raise ValueError(f"invalid variant name {value!r}: letters, digits and hyphens, at most 63")
        return value

    @model_validator(mode="after")
    def _source(self) -> VariantConfig:
        if self.mode == "SingleModel" and not self.model:
            raise ValueError(f"variant {self.name!r} needs a model (registry GROUP:VERSION or a package folder)")
        if self.mode == "MultiModel" and not self.model_dir:
            raise ValueError(f"multi-model variant {self.name!r} needs model_dir (a folder of model packages)")
        return self


class ShadowVariantConfig(VariantConfig):
    """A shadow variant (SageMaker's ``ShadowProductionVariants``): it gets a copy of a sampled
    share of the requests its production variant answers, after the caller has its answer, and
    its answers are kept for comparison (serving/_shadow.py), never sent to a caller.

    Attributes:
        source_variant: the production variant whose requests are copied (default: the first).
        sampling_percentage: the share of those requests copied, 0-100.

    ``weight`` and ``workers`` do not apply: the shadow runs in the endpoint's workers, after
    their callers' answers. The pairs (production answer, shadow answer) go to ``<home>/endpoints/<endpoint>/shadow/
    <variant>/``, a place of the workspace's choosing, never the caller's.
    """

    source_variant: str | None = None
    sampling_percentage: float = Field(default=100.0, ge=0, le=100)

    @model_validator(mode="after")
    def _shadow(self) -> ShadowVariantConfig:
        if self.mode != "SingleModel":
            raise ValueError(f"shadow variant {self.name!r} must be SingleModel")
        if self.fallback is not None:
            raise ValueError(f"shadow variant {self.name!r} cannot have a fallback")
        return self


class DataCaptureConfig(_Strict):
    """SageMaker's ``DataCaptureConfig``: which invocations to write as JSON Lines, and where.

    Attributes:
        enabled: ``EnableCapture``.
        sampling_percentage: ``InitialSamplingPercentage`` (0-100).
        destination: folder for ``<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``; default
            ``$FORGEML_HOME/capture``.
        capture_modes: ``Input`` and/or ``Output``.
        csv_content_types / json_content_types: ``CaptureContentTypeHeader``; other content
            types are captured base64-encoded.
    """

    enabled: bool = True
    sampling_percentage: float = Field(default=100.0, ge=0, le=100)
    destination: str | None = None
    capture_modes: list[Literal["Input", "Output"]] = Field(default_factory=lambda: ["Input", "Output"], min_length=1, max_length=2)
    csv_content_types: list[str] = Field(default_factory=lambda: ["text/csv"], max_length=10)
    json_content_types: list[str] = Field(default_factory=lambda: ["application/json", "application/jsonlines"], max_length=10)


class BatchingConfig(_Strict):
    """Adaptive micro-batching of concurrent requests inside each worker.

    Attributes:
        enabled: collect concurrent requests into one model call.
        max_batch_rows: the most rows one model call gets.
        max_wait_ms: how long to hold a batch open for more requests; only used while recent
            batches held more than one request (under concurrency), so a lone caller never waits.
    """

    enabled: bool = True
    max_batch_rows: int = Field(default=256, ge=1, le=100_000)
    max_wait_ms: float = Field(default=1.0, ge=0, le=100)


class EndpointConfig(_Strict):
    """What an endpoint version serves.

    Attributes:
        trusted: ``False`` loads only ONNX models (compiled packages) and never unpickles; the
            ``trusted_model_packages`` setting ``False`` forces it for every endpoint.
    """

    variants: list[VariantConfig] = Field(min_length=1, max_length=10)
    data_capture: DataCaptureConfig | None = None
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    max_payload_mb: float | None = Field(default=None, gt=0)
    invocation_timeout_seconds: float | None = Field(default=None, gt=0)
    trusted: bool = True
    async_inference: AsyncInferenceConfig | None = None  # see serving/_async_config.py
    shadow_variants: list[ShadowVariantConfig] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _variants(self) -> EndpointConfig:
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant name(s): {', '.join(dupes)}")
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("the variants' weights must add up to more than 0")
        for v in self.variants:
            if v.fallback is None:
                continue
            if v.fallback.variant == v.name:
                raise ValueError(f"variant {v.name!r}: fallback names the variant itself")
            if v.fallback.variant not in names:
                raise ValueError(f"variant {v.name!r}: fallback variant {v.fallback.variant!r} does not exist (variants: {', '.join(names)})")
            if next(x for x in self.variants if x.name == v.fallback.variant).mode != "SingleModel":
                raise ValueError(f"variant {v.name!r}: fallback variant {v.fallback.variant!r} must be SingleModel")
        shadows = [s.name for s in self.shadow_variants]
        clash = sorted(set(shadows) & set(names) | {n for n in shadows if shadows.count(n) > 1})
        if clash:
            raise ValueError(f"shadow variant name(s) {', '.join(clash)} already used")
        for s in self.shadow_variants:
            if s.source_variant is not None and s.source_variant not in names:
                raise ValueError(f"shadow variant {s.name!r}: source_variant {s.source_variant!r} does not exist (variants: {', '.join(names)})")
        return self

    @property
    def workers(self) -> int:
        """Worker processes of the endpoint: the variants' counts added up."""
        return sum(v.workers for v in self.variants)


def parse_config(data: dict[str, Any] | EndpointConfig) -> EndpointConfig:
    """Validate an endpoint config given as a dict.

    Raises:
        ValidationError: naming the first bad field.
    """
    if isinstance(data, EndpointConfig):
        return data
    if not isinstance(data, dict):
        raise ValidationError("an endpoint config must be a mapping with a 'variants' list")
    try:
        return EndpointConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationError(f"invalid endpoint config{' at ' + where if where else ''}: {message}") from None


__all__ = [
    "BatchingConfig", "DataCaptureConfig", "EndpointConfig", "FallbackConfig", "ShadowVariantConfig", "VariantConfig",
    "parse_config",
]
