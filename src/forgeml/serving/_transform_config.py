"""What a batch transform job is asked to do (SageMaker ``CreateTransformJob``), validated once.

Field names follow SageMaker's (snake case). Defaults: ``split_type="None"``, ``batch_strategy``
``MultiRecord`` when records are split, ``max_payload_mb=6`` (0 means no limit: streamed),
``max_concurrent_transforms`` = CPU cores (ForgeML's answer to ``/execution-parameters``),
``assemble_with="None"``, filters ``"$"``, ``join_source="None"``, ``content_type`` ``text/csv``
(``application/jsonlines`` for a dataset input).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forgeml.core.access import reaches
from forgeml.errors import ValidationError

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
CONTENT_TYPES = (CSV, JSON, JSONLINES)
_ALIASES = {"application/json-lines": JSONLINES, "application/x-jsonlines": JSONLINES, "application/jsonl": JSONLINES, "text/csv; header=absent": CSV}
MAX_FILTER_CHARS = 63


def media_type(value: str | None) -> str | None:
    """A bare, lower-case media type (``text/csv; charset=utf-8`` -> ``text/csv``)."""
    if value is None:
        return None
    kind = value.split(";", 1)[0].strip().lower()
    return _ALIASES.get(kind, kind)


def parse_jsonpath(expr: str, what: str) -> Any:
    """A compiled JSONPath (jsonpath-ng), or ValidationError naming the filter."""
    from jsonpath_ng import parse
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError

    if not isinstance(expr, str) or not expr.startswith("$"):
        raise ValidationError(f"{what} {expr!r} must be a JSONPath starting with '$'")
    if len(expr) > MAX_FILTER_CHARS:
        raise ValidationError(f"{what} is {len(expr)} characters long; at most {MAX_FILTER_CHARS} are allowed")
    try:
        return parse(expr)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # the parser raises plain Exception too
        raise ValidationError(f"{what} {expr!r} is not valid JSONPath: {exc}") from None


class TransformConfig(BaseModel):
    """A validated batch-transform request (stored as the job's config)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="registry GROUP:VERSION|ALIAS, model/GROUP:VERSION, or a package folder",
                       json_schema_extra=reaches("model"))
    inputs: list[str] = Field(default_factory=list, description="input files or folders (all files inside, sorted)",
                              json_schema_extra=reaches("source"))
    dataset: str | None = Field(None, description="a dataset NAME[:VERSION] instead of files", json_schema_extra=reaches("reference"))
    output_path: str | None = Field(None, json_schema_extra=reaches("output"))
    content_type: str = CSV
    accept: str | None = None
    compression_type: Literal["None", "Gzip"] = "None"
    split_type: Literal["None", "Line"] = "None"
    batch_strategy: Literal["SingleRecord", "MultiRecord"] | None = None
    max_payload_mb: int = Field(6, ge=0, le=100)
    max_concurrent_transforms: int | None = Field(None, ge=0, le=256)
    assemble_with: Literal["None", "Line"] = "None"
    input_filter: str = "$"
    output_filter: str = "$"
    join_source: Literal["None", "Input"] = Field("None", json_schema_extra=reaches("name", "None or Input: whether inputs join the outputs"))
    environment: dict[str, str] = Field(default_factory=dict, json_schema_extra=reaches("environment"))
    trusted: bool = Field(True, description="False: load only an ONNX model, never unpickle (forced by the trusted_model_packages setting)")

    @field_validator("content_type", "accept")
    @classmethod
    def _media(cls, value: str | None) -> str | None:
        kind = media_type(value)
        if kind is not None and kind not in CONTENT_TYPES:
            raise ValueError(f"{value!r} is not supported (use one of {', '.join(CONTENT_TYPES)})")
        return kind

    @field_validator("environment")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 16:
            raise ValueError("at most 16 environment entries are allowed")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TransformConfig:
        if bool(self.inputs) == bool(self.dataset):
            raise ValueError("give either inputs (files or folders) or a dataset, not both or neither")
        if self.dataset and "content_type" not in self.model_fields_set:
            self.content_type = JSONLINES  # named columns: the model picks its own
        if self.split_type == "None" and self.batch_strategy == "SingleRecord":
            raise ValueError("batch_strategy SingleRecord needs split_type Line")
        if self.split_type == "Line" and self.batch_strategy is None:
            self.batch_strategy = "MultiRecord"
        if self.accept is None:
            self.accept = self.content_type
        if self.join_source == "Input" and self.accept == CSV and self.content_type != CSV:
            raise ValueError("join_source Input with a text/csv output needs text/csv input")
        return self

    @property
    def workers(self) -> int:
        return self.max_concurrent_transforms or os.cpu_count() or 1

    @property
    def payload_limit(self) -> int | None:
        """Bytes per request, or None for no limit (``max_payload_mb=0``: streamed)."""
        return self.max_payload_mb * 1024 * 1024 if self.max_payload_mb else None

    def check(self) -> TransformConfig:
        """Parse the filters and check the input paths exist (done before a job is created)."""
        parse_jsonpath(self.input_filter, "input_filter")
        parse_jsonpath(self.output_filter, "output_filter")
        for item in self.inputs:
            if not Path(item).exists():
                raise ValidationError(f"input {item} does not exist")
        return self


def load_config(data: dict[str, Any]) -> TransformConfig:
    """Validate a request dict; errors name the field.

    Raises:
        ValidationError: an unknown field or a bad value.
    """
    from pydantic import ValidationError as PydanticError

    try:
        return TransformConfig.model_validate(data)
    except PydanticError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise ValidationError(f"transform job {where}: {err['msg'].removeprefix('Value error, ')}") from None


__all__ = ["CONTENT_TYPES", "CSV", "JSON", "JSONLINES", "TransformConfig", "load_config", "media_type", "parse_jsonpath"]
