"""``/clarify``: bias reports and explanations."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.evaluation import DataSource, ModelSource
from forgeml.api.types import Positive, Seed, Version
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/clarify", tags=["clarify"])


class BiasRequest(DataSource, ModelSource):
    label: str
    facets: list[str | dict[str, Any]] = Field(..., min_length=1, description='"black=1", "age>40", "sex", or {"name_or_index":..,"value_or_threshold":..}')
    label_values_or_threshold: Any = Field(None, description='positive label values, or "> 0.5" (default [1])')
    predicted_label: str | None = None
    probability_threshold: float | None = Field(None, ge=0, le=1)
    group_variable: str | None = None
    methods: str | list[str] = "all"
    post_training_methods: str | list[str] = "all"
    ft_features: list[str] | None = None
    dropna: bool = False
    name: str | None = None
    tags: dict[str, str] | None = None


class ExplainRequest(DataSource, ModelSource):
    name: str | None = None
    model_ref: str | None = Field(None, description="The registry reference to record for the model (e.g. model/loans:2).",
                                  json_schema_extra=reaches("reference", "recorded with the report, never resolved to a location"))
    method: Literal["auto", "tree", "kernel", "permutation"] = "auto"
    max_rows: int = Field(100, ge=1, le=100_000)
    num_clusters: int = Field(10, ge=1, le=1000)
    num_samples: Positive | None = None
    agg_method: Literal["mean_abs", "median", "mean_sq"] = "mean_abs"
    use_logit: bool = False
    seed: Seed = 0
    save_local: bool = True
    top_k_features: int = Field(5, ge=0, le=100)
    pdp_features: list[str] | None = None
    grid_resolution: int = Field(15, ge=2, le=200)


class AnalyzeRequest(DataSource, ModelSource):
    config: dict[str, Any] = Field(..., description="A SageMaker Clarify analysis_config.json document.",
                                   json_schema_extra=reaches("nested", "dataset_uri and predictor are ignored: rows come from dataset or rows"))
    name: str | None = None


def _record(rec: Any) -> dict[str, Any]:
    return rec.to_dict() | {"ref": rec.ref}


@router.post("/bias", status_code=201, responses=errors(403, 404, 409))
def bias(req: BiasRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    rec = ws.clarify.bias(
        req.data(), label=req.label, facets=req.facets, label_values_or_threshold=req.label_values_or_threshold,
        model=req.model_spec(required=False), predicted_label=req.predicted_label, probability_threshold=req.probability_threshold,
        group_variable=req.group_variable, methods=req.methods, post_training_methods=req.post_training_methods,
        ft_features=req.ft_features, dropna=req.dropna, name=req.name, tags=req.tags,
    )  # fmt: skip
    return _record(rec) | {"analysis": ws.clarify.report(rec)}


@router.post("/analyze", responses=errors(403, 404, 409))
def analyze(req: AnalyzeRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.clarify.analyze(req.data(), req.config, model=req.model_spec(required=False), name=req.name)


@router.get("/bias", responses=errors(404))
def list_bias(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [_record(r) for r in ws.clarify.list("bias-report")]


@router.get("/bias/{name}", responses=errors(404))
def get_bias(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ref = f"{name}:{version}" if version else name
    return _record(ws.clarify.get(ref)) | {"analysis": ws.clarify.report(ref)}


@router.get("/bias/{name}/report.html", response_class=HTMLResponse, responses=errors(404))
def bias_html(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> str:
    return ws.clarify.html(f"{name}:{version}" if version else name)


@router.post("/explanations", status_code=201, responses=errors(403, 404, 409))
def explanations(req: ExplainRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    options = req.model_dump(exclude={"dataset", "rows", "model", "model_dir", "name", "model_ref"})
    rec = ws.clarify.explain(req.model_spec(), req.data(), name=req.name, model_ref=req.model_ref, **options)
    return _record(rec) | {"explanations": ws.clarify.report(rec, kind="explanation")["explanations"]}


@router.get("/explanations", responses=errors(404))
def list_explanations(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [_record(r) for r in ws.clarify.list("explanation")]


@router.get("/explanations/{name}", responses=errors(404))
def get_explanation(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ref = f"{name}:{version}" if version else name
    return _record(ws.clarify.get(ref, "explanation")) | {"explanations": ws.clarify.report(ref, kind="explanation")["explanations"]}


@router.get("/explanations/{name}/report.html", response_class=HTMLResponse, responses=errors(404))
def explanation_html(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> str:
    return ws.clarify.html(f"{name}:{version}" if version else name, kind="explanation")
