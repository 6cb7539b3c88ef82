"""``/datasets/{name}/profile|validate|drift|pii|recipe|split``: data preparation over REST.

Handlers call :class:`forgeml.data.DataPrepService` only; user errors come back as 4xx through
the app's error handlers.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Positive, Seed, Version
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/datasets", tags=["data preparation"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: Version | None = None


class ProfileRequest(_Body):
    label: str | None = None
    bins: int = Field(default=20, ge=1, le=1000)
    top_k: int = Field(default=10, ge=1, le=1000)
    html: bool = Field(default=False, description="Answer with the self-contained HTML report instead of JSON.")


class ValidateRequest(_Body):
    rules: str | list[str | dict[str, Any]] = Field(description="DQDL text, YAML text, or a list of DQDL strings / rule mappings.")
    quarantine: bool = True
    clean_name: str | None = None


class DriftRequest(_Body):
    base_version: Version | str = Field(description="A version of the dataset, or a dataset reference (other:2, dataset/other).")
    other: str | None = None


class PiiRequest(_Body):
    protect: bool = False
    steps: list[dict[str, Any]] | None = None
    output: str | None = Field(default=None, description="the dataset to write (default: this one)", json_schema_extra=reaches("reference"))
    sample_rows: Positive | None = None


class RecipeRequest(_Body):
    spec: dict[str, Any] | str = Field(json_schema_extra=reaches("nested", "custom steps' functions are checked as entry points"))
    target: str | None = None
    columns: list[str] | None = None


class SplitRequest(_Body):
    method: Literal["random", "stratified", "temporal", "group"] = "random"
    fractions: list[float] = Field(default_factory=lambda: [0.7, 0.15, 0.15], min_length=2, max_length=3)
    target: str | None = None
    time_column: str | None = None
    cutoffs: list[Any] | None = None
    group_column: str | None = None
    prefix: str | None = None
    seed: Seed = 0


def _svc(ws: Workspace) -> Any:
    from forgeml.data._prep_service import DataPrepService

    return DataPrepService(ws)


@router.post("/{name}/profile", response_model=None, responses={
    **errors(404, 409), 200: {"description": "The profile: JSON, or its HTML report when html is true",
                              "content": {"application/json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}}},
})  # fmt: skip
def profile(name: str, body: ProfileRequest, ws: Workspace = Depends(get_workspace)) -> Any:
    out = _svc(ws).profile(name, body.version, label=body.label, bins=body.bins, top_k=body.top_k, html=body.html)
    if body.html:
        return HTMLResponse(out["html"])
    return {"record": out["record"], "report": out["report"]}


@router.post("/{name}/validate", responses=errors(404, 409))
def validate(name: str, body: ValidateRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    out = _svc(ws).validate(name, body.rules, body.version, quarantine=body.quarantine, clean_name=body.clean_name)
    return {"record": out["record"], "report": out["report"]}


@router.get("/{name}/suggested-rules", response_class=PlainTextResponse, responses=errors(404))
def suggested_rules(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> str:
    return str(_svc(ws).suggest_rules(name, version))


@router.post("/{name}/drift", responses=errors(404, 409))
def drift(name: str, body: DriftRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return dict(_svc(ws).drift(name, body.base_version, body.version, other=body.other))


@router.post("/{name}/pii", responses=errors(404, 409))
def pii(name: str, body: PiiRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    svc = _svc(ws)
    if body.protect or body.steps:
        return dict(svc.protect_pii(name, body.steps, body.version, output=body.output))
    out = svc.scan_pii(name, body.version, sample_rows=body.sample_rows)
    return {"record": out["record"], "report": out["report"]}


@router.post("/{name}/recipe", status_code=201, responses=errors(403, 404, 409))
def recipe(name: str, body: RecipeRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return dict(_svc(ws).fit_recipe(name, body.spec, body.version, target=body.target, columns=body.columns))


@router.post("/{name}/split", status_code=201, responses=errors(403, 404, 409))
def split(name: str, body: SplitRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    parts = _svc(ws).split(
        name, body.version, method=body.method, fractions=tuple(body.fractions), prefix=body.prefix, seed=body.seed,
        target=body.target, time_column=body.time_column, group_column=body.group_column, cutoffs=body.cutoffs,
    )  # fmt: skip
    return {part: record.to_dict() for part, record in parts.items()}


@router.get("/{name}/profile.html", response_class=HTMLResponse, responses=errors(404))
def profile_html(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> HTMLResponse:
    """The newest stored profile of the dataset version ``name`` refers to (404 when it has none)."""
    return HTMLResponse(ws.reports.html(_svc(ws).latest_report(name, "profile", version)))


@router.get("/{name}/validation.html", response_class=HTMLResponse, responses=errors(404))
def validation_html(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> HTMLResponse:
    """The newest stored validation report of the dataset version ``name`` refers to (404 when it has none)."""
    return HTMLResponse(ws.reports.html(_svc(ws).latest_report(name, "validation", version)))


@router.get("/{name}/reports/{kind}", responses=errors(404))
def reports(name: str, kind: str, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return list(_svc(ws).reports(name, kind))
