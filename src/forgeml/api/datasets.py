"""``/datasets``: list, inspect, ingest, diff, stream records into, export and import datasets."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from forgeml.api._idempotency import IDEMPOTENCY_KEY
from forgeml.api._idempotency import mark_replay as _mark_replay
from forgeml.api._idempotency import parse as _idempotency
from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Version
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.errors import PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError

router = APIRouter(prefix="/datasets", tags=["datasets"])

MAX_RECORDS_BODY = 16 * 1024 * 1024
MAX_ARCHIVE_BODY = 4 * 1024**3


class IngestRequest(BaseModel):
    """Ingest a file, glob, folder or fsspec URL, or a database table or query, into ``name``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    source: str = Field(..., description="Path, glob, fsspec URL or SQLAlchemy database URL, read on the server: only in an "
                        "allowed data root or with an allowed URL scheme (else 403); send files with POST /datasets/{name}/upload",
                        json_schema_extra=reaches("source"))
    name: str
    format: Literal["csv", "tsv", "parquet", "jsonl"] | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    partition_by: str | None = None
    mode: Literal["replace", "append", "upsert"] = "replace"
    key: list[str] | None = None
    table: str | None = None
    query: str | None = Field(None, json_schema_extra=reaches("sql"))
    watermark: str | None = None
    full: bool = False
    allow_schema_change: bool = False
    description: str | None = None
    tags: dict[str, str] | None = None


@router.get("", responses=errors())
def list_datasets(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.datasets.list()]


@router.post("/ingest", status_code=201, responses=errors(403, 404, 409))
def ingest(req: IngestRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.datasets.ingest(req.source, req.name, **req.model_dump(exclude={"source", "name"})).to_dict()


@router.post("/import", status_code=201, responses=errors(404, 409, 413, 415))
async def import_archive(
    request: Request,
    name: str | None = None,
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:
    """Import an archive sent as the raw body; ``X-Content-SHA256`` (optional) is checked first."""
    ctype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if ctype not in ("application/octet-stream", "application/x-tar", "application/gzip", "application/x-gzip"):
        raise UnsupportedMediaTypeError(f"send the archive as application/octet-stream, not {ctype}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.tar"
        size = 0
        with open(path, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_ARCHIVE_BODY:
                    raise PayloadTooLargeError(f"archive larger than {MAX_ARCHIVE_BODY} bytes")
                fh.write(chunk)
        if digest := request.headers.get("x-content-sha256"):
            Path(f"{path}.sha256").write_text(f"{digest.strip().lower()}  upload.tar\n")
        records = await run_in_threadpool(ws.datasets.import_archive, path, name=name)
        return [r.to_dict() for r in records]


@router.post("/{name}/upload", status_code=201, responses=errors(404, 409, 413, 422))
async def upload(
    name: str,
    request: Request,
    response: Response,
    filename: str = Query("upload.csv", description="Names the format by its extension and labels quarantined rows.",
                          json_schema_extra=reaches("name", "a plain file name, never a path")),
    encoding: str = "utf-8",
    delimiter: str | None = None,
    partition_by: str | None = None,
    mode: Literal["replace", "append", "upsert"] = "replace",
    key: list[str] | None = Query(None),
    allow_schema_change: bool = False,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
    ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    """Ingest a CSV / TSV / Parquet / JSON Lines file sent as the raw body (bad rows quarantined)."""
    from forgeml.data._ingest import ingest_files

    ikey = _idempotency(idempotency_key)
    base = Path(filename).name
    if not base or base != filename:
        raise ValidationError(f"invalid filename {filename!r}: a plain file name such as loans.csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / base
        size = 0
        with open(path, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_ARCHIVE_BODY:
                    raise PayloadTooLargeError(f"upload larger than {MAX_ARCHIVE_BODY} bytes")
                fh.write(chunk)
        record = await run_in_threadpool(
            ingest_files, ws.datasets, str(path), name, encoding=encoding, delimiter=delimiter, partition_by=partition_by,
            mode=mode, key=key, allow_schema_change=allow_schema_change, label=f"upload:{base}", idempotency_key=ikey,
        )  # fmt: skip
    _mark_replay(ikey, response)
    return record.to_dict()


@router.get("/{name}", responses=errors(404))
def get_dataset(name: str, version: Version | None = None, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.datasets.describe(name, version)


@router.get("/{name}/versions", responses=errors(404))
def list_versions(name: str, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.datasets.versions(name)]


@router.get("/{name}/versions/{version}", responses=errors(404))
def get_version(name: str, version: Version, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.datasets.describe(name, version)


@router.delete("/{name}/versions/{version}", responses=errors(404, 409))
def delete_version(
    name: str, version: Version, reason: str | None = Query(None, max_length=1000),
    by: str | None = Query(None, max_length=200), ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    """Delete one dataset version (kept as a tombstone for lineage); 409 while a running job reads it."""
    return ws.datasets.delete(name, version, reason=reason, by=by).to_dict()


@router.get("/{name}/head", responses=errors(404))
def head(
    name: str,
    n: int = Query(10, ge=0, le=10_000),
    version: Version | None = None,
    ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    record = ws.datasets.get(name, version)
    frame = ws.datasets.head(record, n=n)
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    return {"dataset": record.name, "version": record.version, "columns": [str(c) for c in frame.columns], "rows": rows}


@router.get("/{name}/diff", responses=errors(404))
def diff(
    name: str,
    a: str | None = Query(None, description="The older version when the path names none, else the newer (a version or a dataset reference)."),
    b: str | None = Query(None, description="The newer version (default: latest)."),
    key: list[str] | None = Query(None),
    ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    return ws.datasets.diff(name, a, b, key=key)


@router.post("/{name}/records", status_code=202, responses=errors(404, 409, 413, 415, 422))
async def put_records(
    name: str, request: Request, response: Response, idempotency_key: str | None = IDEMPOTENCY_KEY, ws: Workspace = Depends(get_workspace)
) -> dict[str, Any]:
    """Stream JSON records in: a JSON array, ``{"records": [...]}``, or NDJSON lines.

    Records are buffered and written as an appended version when the buffer is full or old.
    """
    from forgeml.data._buffer import parse_body

    ikey = _idempotency(idempotency_key)
    body = await request.body()
    if len(body) > MAX_RECORDS_BODY:
        raise PayloadTooLargeError(f"request body of {len(body)} bytes exceeds {MAX_RECORDS_BODY}")
    records = parse_body(body, request.headers.get("content-type", "application/json"))
    result: dict[str, Any] = await run_in_threadpool(lambda: ws.datasets.records().append(name, records, idempotency_key=ikey))
    _mark_replay(ikey, response)
    return result


@router.post("/{name}/records/flush", responses=errors(404, 409))
def flush_records(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    rec = ws.datasets.records().flush(name)
    return {"dataset": name, "flushed": rec.ref if rec else None, "version": rec.to_dict() if rec else None}


@router.get("/{name}/export", response_class=FileResponse, responses={
    **errors(404), 200: {"description": "The archive (tar.gz)", "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}},
})  # fmt: skip
def export(
    name: str,
    background: BackgroundTasks,
    version: list[Version] | None = Query(None),
    ws: Workspace = Depends(get_workspace),
) -> FileResponse:
    """The versions as a gzip'd archive; its sha256 is in the ``X-Content-SHA256`` header."""
    fd, tmp = tempfile.mkstemp(suffix=".tar.gz")
    os.close(fd)
    try:
        out = ws.datasets.export(name, tmp, versions=version)
    except BaseException:
        os.unlink(tmp)
        raise
    background.add_task(os.unlink, tmp)
    background.add_task(lambda: Path(f"{tmp}.sha256").unlink(missing_ok=True))
    return FileResponse(tmp, media_type="application/gzip", filename=f"{name}.tar.gz", headers={"X-Content-SHA256": out["sha256"]})
