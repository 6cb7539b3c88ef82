"""``/model-package-groups``: the model registry over HTTP.

    GET    /model-package-groups                                   groups
    POST   /model-package-groups                                   create a group
    GET    /model-package-groups/{group}                           one group (with aliases)
    GET    /model-package-groups/{group}/versions                  versions, newest first
    POST   /model-package-groups/{group}/versions                  register (artifact, training job; a server folder only in an allowed code root)
    POST   /model-package-groups/{group}/packages                  register an uploaded package archive (tar, tar.gz or zip)
    GET    /model-package-groups/{group}/versions/{version}        one version (number, alias, latest, approved)
    POST   /model-package-groups/{group}/versions/{version}/approval   {status, by, reason}
    PATCH  /model-package-groups/{group}/versions/{version}/metadata   merge customer metadata
    PUT    /model-package-groups/{group}/versions/{version}/model-card attach a model card
    POST   /model-package-groups/{group}/versions/{version}/compile    compile to ONNX, register the result
    GET    /model-package-groups/{group}/versions/{version}/events     its change history
    GET    /model-package-groups/{group}/versions/{version}/compilation.html  its compile report
    PUT    /model-package-groups/{group}/aliases/{alias}           {version}
    DELETE /model-package-groups/{group}/aliases/{alias}
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Version
from forgeml.core.access import reaches
from forgeml.core.refs import is_number
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/model-package-groups", tags=["models"])


def _v(version: str) -> int | str:
    return int(version) if is_number(version) else version


class CreateGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Register(BaseModel):
    """Exactly one source: ``artifact`` (a package folder digest, e.g. from ``POST /bundles``),
    ``training_job``, or ``path`` (a folder on the server: only in an allowed code root)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    artifact: str | None = Field(None, json_schema_extra=reaches("bundle"))
    training_job: str | None = Field(None, json_schema_extra=reaches("reference"))
    path: str | None = Field(None, json_schema_extra=reaches("code", "a package runs code when loaded"))
    description: str | None = None
    metadata: dict[str, Any] | None = None
    model_card: dict[str, Any] | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: str
    by: str | None = None
    reason: str | None = None


class Alias(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: Version


class Compile(BaseModel):
    """``holdout`` is a dataset ``NAME[:VERSION]`` (or a file in an allowed data root)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    holdout: str = Field(json_schema_extra=reaches("data"))
    quantize: bool | Literal["dynamic", "static"] = False  # True = "dynamic"; "static" calibrates on the holdout
    tolerance: float | None = Field(None, ge=0)
    description: str | None = None
    prune: float | None = None  # PyTorch models: weight sparsity in [0, 1), checked by the registry
    accuracy_tolerance: float | None = Field(None, ge=0)


@router.get("", responses=errors())
def list_groups(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [g.to_dict() for g in ws.registry.list_groups()]


@router.post("", status_code=201, responses=errors(404, 409))
def create_group(body: CreateGroup, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.registry.create_group(body.name, description=body.description, tags=body.tags).to_dict()


@router.get("/{group}", responses=errors(404))
def get_group(group: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """The group, or the version when the path names one (``loans:3``, ``loans@champion``)."""
    from forgeml.core.refs import parse_ref

    if parse_ref(group, "model").selector not in (None, "latest"):
        return ws.registry.describe(group)
    return ws.registry.get_group(group).to_dict()


@router.get("/{group}/versions", responses=errors(404))
def list_versions(group: str, status: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [ws.registry.describe(group, v.version) for v in ws.registry.versions(group, approval_status=status)]


@router.post("/{group}/versions", status_code=201, responses=errors(403, 404, 409))
def register(group: str, body: Register, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    record = ws.registry.register(
        group, body.path, training_job=body.training_job, artifact=body.artifact, description=body.description,
        metadata=body.metadata, model_card=body.model_card, tags=body.tags,
    )  # fmt: skip
    return ws.registry.describe(group, record.version)


@router.post("/{group}/packages", status_code=201, responses=errors(404, 409, 413, 415))
async def upload_package(
    group: str, request: Request, description: str | None = None, ws: Workspace = Depends(get_workspace)
) -> dict[str, Any]:
    """Register a model package sent as a tar/zip archive (its folder, or one folder holding it).

    The archive is extracted safely (see ``POST /bundles``). A pickle-based package runs code
    when it is loaded: register only packages from sources you trust (docs/registry.md).
    """
    from forgeml.api.bundles import receive_archive
    from forgeml.core.bundles import store
    from forgeml.registry.package import MANIFEST

    with tempfile.TemporaryDirectory(prefix="forgeml-upload-") as tmp:
        path = await receive_archive(request, ws, Path(tmp))
        bundle = await run_in_threadpool(store, ws, path, label="package archive", marker=MANIFEST)
    record = await run_in_threadpool(ws.registry.register, group, artifact=bundle.artifact.digest, description=description)
    described: dict[str, Any] = await run_in_threadpool(ws.registry.describe, group, record.version)
    return described


@router.get("/{group}/versions/{version}", responses=errors(404))
def get_version(group: str, version: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.registry.describe(group, _v(version))


@router.delete("/{group}/versions/{version}", responses=errors(404, 409))
def delete_version(group: str, version: str, reason: str | None = Query(None, max_length=1000),
                   by: str | None = Query(None, max_length=200), ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    """Delete one model version (kept as a tombstone for lineage); 409 while an alias points to it
    or an endpoint or running job uses it."""
    return ws.registry.delete(group, _v(version), reason=reason, by=by).to_dict()


@router.post("/{group}/versions/{version}/approval", responses=errors(404, 409))
def set_approval(group: str, version: str, body: Approval, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    record = ws.registry.set_approval(group, _v(version), body.status, by=body.by, reason=body.reason)
    return ws.registry.describe(group, record.version)


@router.patch("/{group}/versions/{version}/metadata", responses=errors(404, 409))
def update_metadata(group: str, version: str, body: dict[str, Any], ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    record = ws.registry.update_metadata(group, _v(version), body)
    return ws.registry.describe(group, record.version)


@router.put("/{group}/versions/{version}/model-card", responses=errors(404, 409))
def attach_model_card(group: str, version: str, body: dict[str, Any], ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    record = ws.registry.attach_model_card(group, _v(version), body)
    return ws.registry.describe(group, record.version)


@router.post("/{group}/versions/{version}/compile", status_code=201, responses=errors(403, 404, 409))
def compile_version(group: str, version: str, body: Compile, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    record = ws.registry.compile(
        group, _v(version), holdout=body.holdout, quantize=body.quantize, tolerance=body.tolerance, description=body.description,
        prune=body.prune, accuracy_tolerance=body.accuracy_tolerance,
    )
    return ws.registry.describe(group, record.version)


@router.get("/{group}/versions/{version}/compilation.html", response_class=HTMLResponse, responses=errors(404))
def compilation_html(group: str, version: str, ws: Workspace = Depends(get_workspace)) -> HTMLResponse:
    """The compile report of a compiled version (404 for a version that was not compiled)."""
    return HTMLResponse(ws.reports.html(ws.registry.get(group, _v(version))))


@router.get("/{group}/versions/{version}/events", responses=errors(404))
def version_events(group: str, version: str, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ws.registry.events(group, _v(version))]


@router.put("/{group}/aliases/{alias}", responses=errors(404, 409))
def set_alias(group: str, alias: str, body: Alias, ws: Workspace = Depends(get_workspace)) -> dict[str, int]:
    return ws.registry.set_alias(group, alias, body.version)


@router.delete("/{group}/aliases/{alias}", responses=errors(404, 409))
def remove_alias(group: str, alias: str, ws: Workspace = Depends(get_workspace)) -> dict[str, int]:
    return ws.registry.remove_alias(group, alias)
