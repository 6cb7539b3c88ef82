"""``/monitoring`` bias drift and feature attribution drift (ModelBias, ModelExplainability).

Baselines take rows like ``/clarify`` does (a dataset, inline rows, or a file in an allowed data
root) and a registered model (or a package in an allowed code root); executions read an
endpoint's captured traffic. Schedules are ``POST /monitoring/schedules`` with
``monitoring_type`` ModelBias or ModelExplainability and a baseline of that type.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.evaluation import DataSource, ModelSource
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/monitoring", tags=["monitoring"], responses=errors(403, 404, 409))

_CONFIG_NOTE = "a document, validated: Clarify's dataset_uri, predictor and shap baseline locations are refused (unknown keys)"


class BiasBaselineRequest(DataSource, ModelSource):
    """Labelled rows and the model whose predictions a ModelBias monitor measures."""

    config: dict[str, Any] = Field(..., description="Bias config: label, label_values_or_threshold, facet, group_variable, methods, thresholds "
                                   "{metric: [low, high]}, default_tolerance, bootstrap_samples, confidence_level, seed, headers, "
                                   "inference_attribute, probability_attribute, predicted_label.",
                                   json_schema_extra=reaches("nested", _CONFIG_NOTE))  # fmt: skip
    name: str | None = Field(None, description="The baseline to store (its next version).", json_schema_extra=reaches("name"))
    tags: dict[str, str] | None = None


class ExplainabilityBaselineRequest(DataSource, ModelSource):
    """Rows of the model's inputs and the model a ModelExplainability monitor explains."""

    config: dict[str, Any] | None = Field(None, description="SHAP options (num_clusters, num_samples, agg_method, use_logit, seed, method, "
                                          "max_rows), threshold (0.9), background_rows, headers.",
                                          json_schema_extra=reaches("nested", _CONFIG_NOTE))  # fmt: skip
    name: str | None = Field(None, description="The baseline to store (its next version).", json_schema_extra=reaches("name"))
    tags: dict[str, str] | None = None


class DriftExecutionRequest(BaseModel):
    """One execution over an endpoint's captured traffic in whole hours."""

    model_config = ConfigDict(extra="forbid")

    baseline: str = Field(..., description="A ModelBias or ModelExplainability baseline (NAME, NAME:VERSION).",
                          json_schema_extra=reaches("reference"))  # fmt: skip
    endpoint: str = Field(..., description="The endpoint whose captured traffic to read.", json_schema_extra=reaches("reference"))
    start_time: str | None = Field(None, description="ISO-8601; the window starts at this hour.")
    end_time: str | None = Field(None, description="ISO-8601; the window ends before this hour.")
    variant: str | None = Field(None, description="Only this production variant's captures.", json_schema_extra=reaches("name"))
    name: str | None = Field(None, description="The execution to store (its next version).", json_schema_extra=reaches("name"))
    tags: dict[str, str] | None = None

    def window(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "start_time": self.start_time, "end_time": self.end_time, "variant": self.variant,
                "name": self.name, "tags": self.tags}  # fmt: skip


def _record(rec: Any) -> dict[str, Any]:
    return rec.to_dict() | {"ref": rec.ref}


@router.post("/bias-baselines", status_code=201)
def create_bias_baseline(req: BiasBaselineRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Post-training bias metrics of labelled data, stored as a ModelBias baseline."""
    rec = ws.monitoring.bias_baseline(req.data(), req.config, model=req.model_spec(required=False), name=req.name, tags=req.tags)
    return _record(rec) | {"analysis": ws.monitoring.constraints(rec)}


@router.post("/explainability-baselines", status_code=201)
def create_explainability_baseline(req: ExplainabilityBaselineRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Global SHAP values of a model on baseline rows, stored as a ModelExplainability baseline."""
    rec = ws.monitoring.explainability_baseline(req.data(), model=req.model_spec(), config=req.config, name=req.name, tags=req.tags)
    return _record(rec) | ws.monitoring.constraints(rec)


@router.post("/model-bias", status_code=201)
def create_model_bias(req: DriftExecutionRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Run one bias drift execution; its analysis and violations come back with it."""
    rec = ws.monitoring.model_bias(req.baseline, **req.window())
    return _record(rec) | {"statistics": ws.monitoring.statistics(rec, kind="monitoring-execution")} | ws.monitoring.violations(rec)


@router.post("/model-explainability", status_code=201)
def create_model_explainability(req: DriftExecutionRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Run one feature attribution drift execution; its NDCG and violations come back with it."""
    rec = ws.monitoring.model_explainability(req.baseline, **req.window())
    return _record(rec) | {"statistics": ws.monitoring.statistics(rec, kind="monitoring-execution")} | ws.monitoring.violations(rec)
