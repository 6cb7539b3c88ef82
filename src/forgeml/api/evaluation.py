"""``/evaluations`` and ``/model-cards``: evaluate packages, gate challengers, generate cards."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Seed, Version
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError

router = APIRouter(tags=["evaluation"])


class DataSource(BaseModel):
    """Where the rows come from: a stored dataset, inline records, or a file in an allowed data root."""

    model_config = ConfigDict(extra="forbid", strict=True)

    dataset: str | None = Field(None, description="A dataset (NAME, NAME:VERSION, dataset/NAME:VERSION), or a CSV/Parquet "
                                "file in an allowed data root.", json_schema_extra=reaches("data"))
    rows: list[dict[str, Any]] | None = Field(None, description="Inline records (small payloads).")

    def data(self) -> Any:
        if (self.dataset is None) == (self.rows is None):
            raise ValidationError("give exactly one of 'dataset' or 'rows'")
        if self.rows is not None:
            import pandas as pd

            if not self.rows:
                raise ValidationError("rows: no records")
            return pd.DataFrame.from_records(self.rows)
        return self.dataset


class ModelSource(BaseModel):
    """Which model: a registered one (``model``) or a package folder on the server (``model_dir``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(None, description="A registered model: NAME, NAME:VERSION, NAME@champion or model/NAME:VERSION "
                              "(or a package folder in an allowed code root).", json_schema_extra=reaches("model"))
    model_dir: str | None = Field(None, description="A model package folder on the server (allowed code roots only).",
                                  json_schema_extra=reaches("model"))

    def model_spec(self, required: bool = True) -> str | None:
        if self.model is not None and self.model_dir is not None:
            raise ValidationError("give either 'model' or 'model_dir', not both")
        spec = self.model if self.model is not None else self.model_dir
        if spec is None and required:
            raise ValidationError("give 'model' (a registered model such as loans:2) or 'model_dir'")
        return spec


class EvaluateRequest(DataSource, ModelSource):
    target: str | None = None
    name: str | None = None
    threshold: float = Field(0.5, ge=0, le=1)
    positive_label: Any = None
    cost: dict[Literal["fp", "fn", "tp", "tn"], float] | None = None
    model_ref: str | None = Field(None, description="The registry reference to record for the model (e.g. model/loans:2).",
                                  json_schema_extra=reaches("reference", "recorded with the report, never resolved to a location"))
    tags: dict[str, str] | None = None


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    challenger: str
    champion: str | None = None
    rules: list[str | dict[str, Any]] = Field(..., min_length=1)


class CrossValidateRequest(DataSource, ModelSource):
    target: str | None = None
    folds: int = Field(5, ge=2, le=50)
    seed: Seed = 0


class CardRequest(ModelSource):
    name: str | None = None
    evaluation: str | None = None
    bias: str | None = None
    explanation: str | None = None
    model_ref: str | None = Field(None, description="The registry reference to record for the model (e.g. model/loans:2).",
                                  json_schema_extra=reaches("reference", "recorded with the report, never resolved to a location"))
    intended_use: str | None = None
    limitations: str | None = None
    owner: str | None = None


def _record(rec: Any) -> dict[str, Any]:
    return rec.to_dict() | {"ref": rec.ref}


@router.post("/evaluations", status_code=201, responses=errors(403, 404, 409))
def evaluate(req: EvaluateRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    rec = ws.evaluation.evaluate(req.model_spec(), req.data(), target=req.target, name=req.name, threshold=req.threshold,
                                 positive_label=req.positive_label, cost=req.cost, model_ref=req.model_ref, tags=req.tags)  # fmt: skip
    return _record(rec)


@router.get("/evaluations", responses=errors(404))
def list_evaluations(name: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [_record(r) for r in ws.evaluation.list(name)]


@router.post("/evaluations/compare", responses=errors(404, 409))
def compare(req: CompareRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.evaluation.compare(req.challenger, req.champion, req.rules)


@router.post("/evaluations/cross-validate", responses=errors(403, 404, 409))
def cross_validate(req: CrossValidateRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.evaluation.cross_validate(req.model_spec(), req.data(), target=req.target, folds=req.folds, seed=req.seed)


@router.get("/evaluations/{name}", responses=errors(404))
def get_evaluation(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ref = f"{name}:{version}" if version else name
    return _record(ws.evaluation.get(ref)) | {"report": ws.evaluation.report(ref)}


@router.get("/evaluations/{name}/report.html", response_class=HTMLResponse, responses=errors(404))
def evaluation_html(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> str:
    return ws.evaluation.html(f"{name}:{version}" if version else name)


@router.post("/model-cards", status_code=201, responses=errors(403, 404, 409))
def create_card(req: CardRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    rec = ws.evaluation.model_card(req.model_spec(), name=req.name, evaluation=req.evaluation, bias=req.bias,
                                   explanation=req.explanation, model_ref=req.model_ref, intended_use=req.intended_use,
                                   limitations=req.limitations, owner=req.owner)  # fmt: skip
    return _record(rec)


@router.get("/model-cards/{name}", response_model=None, responses=errors(404))
def get_card(
    name: str, version: Version | None = None, format: Literal["json", "markdown", "html"] = "json",
    ws: Workspace = Depends(get_workspace),
) -> Any:  # fmt: skip
    text = ws.evaluation.card_document(f"{name}:{version}" if version else name, format)
    if format == "html":
        return HTMLResponse(text)
    if format == "markdown":
        return PlainTextResponse(text, media_type="text/markdown")
    import json

    return json.loads(text)
