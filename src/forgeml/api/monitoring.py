"""``/monitoring``: baselines and data-quality monitoring executions (Model Monitor).

Over REST rows come only by reference (a dataset, or an endpoint's captured traffic); a path is
refused, and constraints come in the request body, never from a server file.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError

router = APIRouter(prefix="/monitoring", tags=["monitoring"], responses=errors(403, 404, 409))


class Window(BaseModel):
    """Which rows: a dataset version, or an endpoint's captured traffic in whole hours."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = Field(None, description="A dataset reference (NAME, NAME:VERSION, dataset/NAME:VERSION).",
                                json_schema_extra=reaches("reference", "a dataset reference only: a path is refused"))  # fmt: skip
    endpoint: str | None = Field(None, description="An endpoint whose captured traffic to read.",
                                 json_schema_extra=reaches("reference"))  # fmt: skip
    start_time: str | None = Field(None, description="ISO-8601; the window starts at this hour (captures only).")
    end_time: str | None = Field(None, description="ISO-8601; the window ends before this hour (captures only).")
    variant: str | None = Field(None, description="Only this production variant's captures.", json_schema_extra=reaches("name"))
    name: str | None = Field(None, description="The resource to store (its next version).", json_schema_extra=reaches("name"))
    tags: dict[str, str] | None = None

    def source(self) -> dict[str, Any]:
        from forgeml.core.refs import looks_like_path

        if self.dataset is not None and looks_like_path(self.dataset, (".csv", ".parquet", ".pq")):
            raise ValidationError("dataset: over REST give a dataset reference (NAME[:VERSION]), not a path")
        return {"data": self.dataset, "endpoint": self.endpoint, "start_time": self.start_time, "end_time": self.end_time,
                "variant": self.variant, "name": self.name, "tags": self.tags}  # fmt: skip


class BaselineRequest(Window):
    columns: list[str] | None = Field(None, description="Names for captured positional values (CSV, JSON lists).",
                                      json_schema_extra=reaches("name"))  # fmt: skip


class ExecutionRequest(Window):
    baseline: str = Field(..., description="A monitoring baseline (NAME, NAME:VERSION).", json_schema_extra=reaches("reference"))
    constraints: dict[str, Any] | None = Field(None, description="A constraints.json document to use instead of the baseline's.",
                                               json_schema_extra=reaches("nested", "a document, validated; nothing in it is a location"))  # fmt: skip


def _record(rec: Any) -> dict[str, Any]:
    return rec.to_dict() | {"ref": rec.ref}


@router.post("/baselines", status_code=201)
def create_baseline(req: BaselineRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Run a baselining job and return the stored baseline with its constraints."""
    rec = ws.monitoring.baseline(columns=req.columns, **req.source())
    return _record(rec) | {"constraints": ws.monitoring.constraints(rec)}


@router.get("/baselines")
def list_baselines(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [_record(r) for r in ws.monitoring.list()]


@router.get("/baselines/{baseline}")
def get_baseline(baseline: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    rec = ws.monitoring.get(baseline)
    if rec.spec.get("estimator"):  # a CBPE reference: its calibration, error components, thresholds
        return _record(rec) | {"cbpe": ws.monitoring.cbpe(rec)}
    return _record(rec) | {"constraints": ws.monitoring.constraints(rec)}


class CbpeBaselineRequest(Window):
    """A CBPE reference: labelled rows (a dataset with label/probability columns, or an endpoint's
    captures merged with their ground truth)."""

    label: str = Field("label", description="The dataset's ground-truth column (0/1).", json_schema_extra=reaches("name"))
    probability: str = Field("probability", description="The positive-class probability's column, or key in captured outputs.",
                             json_schema_extra=reaches("name"))  # fmt: skip
    prediction: str | None = Field(None, description="The predicted label's column or key (else probability >= threshold).",
                                   json_schema_extra=reaches("name"))  # fmt: skip
    probability_threshold: float | None = Field(None, ge=0, le=1, description="Predict 1 at or above this probability.")
    chunks: int = Field(10, ge=2, le=100, description="Reference chunks for the alert thresholds.")


@router.post("/cbpe-baselines", status_code=201)
def create_cbpe_baseline(req: CbpeBaselineRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Fit a CBPE reference (label-free performance estimation); pass it as ``estimator`` to a
    model-quality execution or schedule."""
    rec = ws.monitoring.cbpe_baseline(label=req.label, probability=req.probability, prediction=req.prediction,
                                      probability_threshold=req.probability_threshold, chunks=req.chunks, **req.source())  # fmt: skip
    return _record(rec) | {"cbpe": ws.monitoring.cbpe(rec)}


@router.get("/baselines/{baseline}/statistics.json")
def baseline_statistics(baseline: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.monitoring.statistics(baseline)


@router.get("/baselines/{baseline}/constraints.json")
def baseline_constraints(baseline: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.monitoring.constraints(baseline)


@router.put("/baselines/{baseline}/constraints.json", status_code=201)
def edit_constraints(baseline: str, document: dict[str, Any] = Body(..., description="The edited constraints.json."),
                     ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    """Store edited constraints as the baseline's next version."""
    rec = ws.monitoring.update_constraints(baseline, document)
    return _record(rec) | {"constraints": ws.monitoring.constraints(rec)}


@router.post("/executions", status_code=201)
def create_execution(req: ExecutionRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Run one monitoring execution and return it with its violations."""
    rec = ws.monitoring.check(req.baseline, constraints=req.constraints, **req.source())
    return _record(rec) | ws.monitoring.violations(rec)


@router.get("/executions")
def list_executions(name: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [_record(r) for r in ws.monitoring.executions(name)]


@router.get("/executions/{execution}")
def get_execution(execution: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return _record(ws.monitoring.execution(execution)) | ws.monitoring.violations(execution)


@router.get("/executions/{execution}/constraint_violations.json")
def execution_violations(execution: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.monitoring.violations(execution)


@router.get("/executions/{execution}/statistics.json")
def execution_statistics(execution: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.monitoring.statistics(execution, kind="monitoring-execution")


@router.get("/executions/{execution}/report.html", response_class=HTMLResponse)
def execution_html(execution: str, ws: Workspace = Depends(get_workspace)) -> str:
    return ws.monitoring.html(execution)


# schedules -------------------------------------------------------------------------------------
class ScheduleRequest(BaseModel):
    """A monitoring schedule: a monitoring execution of each window of an endpoint's traffic."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="The schedule's name; its executions are stored under it.", json_schema_extra=reaches("name"))
    baseline: str | None = Field(None, description="A monitoring baseline (NAME, NAME:VERSION); DataQuality only.",
                                 json_schema_extra=reaches("reference"))  # fmt: skip
    endpoint: str = Field(..., description="The endpoint whose captured traffic each window reads.",
                          json_schema_extra=reaches("reference"))  # fmt: skip
    cron: str = Field("0 * * * *", description="Five-field cron (UTC), at most hourly; or 'hourly', 'daily'.")
    model_quality: dict[str, Any] | None = Field(None, description="ModelQuality: {problem_type, inference_attribute, probability_attribute, probability_threshold}.")
    variant: str | None = Field(None, description="Only this production variant's captures.", json_schema_extra=reaches("name"))
    monitoring_type: str = Field("DataQuality", description="DataQuality or ModelQuality.")
    constraints: dict[str, Any] | None = Field(None, description="A constraints.json document to use instead of the baseline's.",
                                               json_schema_extra=reaches("nested", "a document, validated; nothing in it is a location"))  # fmt: skip
    start_time: str | None = Field(None, description="ISO-8601; no window before this time (default now).")
    tags: dict[str, str] | None = None


@router.post("/schedules", status_code=201)
def create_schedule(req: ScheduleRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Create a monitoring schedule (status Pending until the scheduler takes it)."""
    rec = ws.monitoring.create_schedule(req.name, baseline=req.baseline, endpoint=req.endpoint, cron=req.cron, variant=req.variant,
                                        monitoring_type=req.monitoring_type, constraints=req.constraints,
                                        start_time=req.start_time, model_quality=req.model_quality, tags=req.tags)  # fmt: skip
    return _record(rec)


@router.get("/schedules")
def list_schedules(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [_record(r) for r in ws.monitoring.schedules()]


@router.get("/schedules/{schedule}")
def get_schedule(schedule: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return _record(ws.monitoring.schedule(schedule))


@router.post("/schedules/{schedule}/stop")
def stop_schedule(schedule: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Stop a schedule: no new windows run."""
    return _record(ws.monitoring.stop_schedule(schedule))


@router.post("/schedules/{schedule}/start")
def start_schedule(schedule: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Start a stopped schedule again, from now on."""
    return _record(ws.monitoring.start_schedule(schedule))


@router.get("/schedules/{schedule}/executions")
def schedule_executions(schedule: str, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    """One entry per window, newest first: window, job, status and the execution once stored."""
    return ws.monitoring.schedule_executions(schedule)


# model quality ---------------------------------------------------------------------------------
class GroundTruthRequest(BaseModel):
    """Ground-truth records in SageMaker's format, for one endpoint's captured requests."""

    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(..., description="{groundTruthData: {data, encoding}, eventMetadata: {eventId}, eventVersion}",
                                          json_schema_extra=reaches("nested", "documents, validated; nothing in them is a location"))  # fmt: skip
    collected_at: str | None = Field(None, description="ISO-8601; the hour the labels were collected (default now).")


@router.post("/ground-truth/{endpoint}", status_code=201)
def upload_ground_truth(endpoint: str, req: GroundTruthRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Store ground truth (all records or none); ids matching no captured request are counted."""
    if not req.records:
        raise ValidationError("records: give at least one ground-truth record")
    return ws.monitoring.upload_ground_truth(endpoint, req.records, collected_at=req.collected_at)


class ModelQualityRequest(BaseModel):
    """One model-quality execution over an endpoint's captured traffic and its ground truth."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(..., description="The endpoint whose captures to merge with ground truth.", json_schema_extra=reaches("reference"))
    problem_type: str = Field(..., description="Regression, BinaryClassification or MulticlassClassification.")
    start_time: str | None = Field(None, description="ISO-8601; the window starts at this hour.")
    end_time: str | None = Field(None, description="ISO-8601; the window ends before this hour.")
    variant: str | None = Field(None, description="Only this production variant's captures.", json_schema_extra=reaches("name"))
    inference_attribute: str | None = Field(None, description="The prediction's key in JSON outputs (default predicted_label).")
    probability_attribute: str | None = Field(None, description="The positive-class probability's key (binary).")
    probability_threshold: float | None = Field(None, ge=0, le=1, description="Predict 1 at or above this probability.")
    constraints: dict[str, Any] | None = Field(None, description="{<problem>_constraints: {metric: {threshold, comparison_operator}}}",
                                               json_schema_extra=reaches("nested", "a document, validated; nothing in it is a location"))  # fmt: skip
    estimator: str | None = Field(None, description="A CBPE reference: also estimate the window's metrics without labels.",
                                  json_schema_extra=reaches("reference"))  # fmt: skip
    name: str | None = Field(None, description="The execution to store (its next version).", json_schema_extra=reaches("name"))
    tags: dict[str, str] | None = None


@router.post("/model-quality", status_code=201)
def create_model_quality(req: ModelQualityRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Run one model-quality execution; its statistics.json and violations come back with it."""
    rec = ws.monitoring.model_quality(req.endpoint, problem_type=req.problem_type, start_time=req.start_time, end_time=req.end_time,
                                      variant=req.variant, inference_attribute=req.inference_attribute,
                                      probability_attribute=req.probability_attribute, probability_threshold=req.probability_threshold,
                                      constraints=req.constraints, estimator=req.estimator, name=req.name, tags=req.tags)  # fmt: skip
    return _record(rec) | {"statistics": ws.monitoring.statistics(rec, kind="monitoring-execution")} | ws.monitoring.violations(rec)
