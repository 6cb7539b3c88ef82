"""``/feature-groups``: feature groups, online records, ingestion, offline SQL and training sets."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from forgeml.api._idempotency import IDEMPOTENCY_KEY
from forgeml.api._idempotency import mark_replay as _mark_replay
from forgeml.api._idempotency import parse as _idempotency
from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import MAX_INT, Int, Positive
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/feature-groups", tags=["feature-store"])

Records = list[dict[str, Any]]


class CreateFeatureGroup(BaseModel):
    name: str
    record_identifier: str
    event_time_feature: str
    features: list[str | dict[str, str]] = Field(min_length=2)
    description: str | None = None
    online_ttl: float | str | None = None
    online_enabled: bool = True
    offline_enabled: bool = True
    offline_partition: str = "day"
    tags: dict[str, str] = Field(default_factory=dict)


class AddFeatures(BaseModel):
    features: list[str | dict[str, str]] = Field(min_length=1)
    description: str | None = None


class PutRecord(BaseModel):
    record: dict[str, Any]
    target_stores: list[str] | None = None
    ttl: float | str | None = None


class BatchGet(BaseModel):
    record_ids: list[str | Int] = Field(max_length=100_000)
    features: list[str] | None = None


class Ingest(BaseModel):
    records: Records | None = None
    dataset: str | None = Field(None, json_schema_extra=reaches("reference"))
    batch_size: Positive = 50_000
    target_stores: list[str] | None = None


class Query_(BaseModel):
    sql: str = Field(json_schema_extra=reaches("sql"))


class TrainingSetRequest(BaseModel):
    entity: Records | str
    features: list[str]
    event_time_column: str
    id_columns: dict[str, str] | None = None
    as_of: str | float | None = None
    name: str | None = None


def _records(frame: Any) -> Records:
    return json.loads(frame.to_json(orient="records", date_format="iso"))  # type: ignore[no-any-return]


def _frame(records: Records) -> Any:
    import pandas as pd

    from forgeml.errors import ValidationError

    if not records:
        raise ValidationError("no records given")
    return pd.DataFrame.from_records(records).astype("object")


@router.get("", responses=errors())
def list_groups(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [g.to_dict() for g in ws.features.list_groups()]


@router.post("", status_code=201, responses=errors(404, 409))
def create_group(body: CreateFeatureGroup, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    args = body.model_dump()
    name = args.pop("name")
    args["online_ttl"] = args.pop("online_ttl")
    return ws.features.create_group(name, **args).to_dict()  # type: ignore[no-any-return]


@router.post("/query", responses=errors(403, 404, 409))
def query(body: Query_, ws: Workspace = Depends(get_workspace)) -> Records:
    return _records(ws.features.query(body.sql))


@router.post("/training-sets", responses=errors(403, 404, 409))
def training_set(body: TrainingSetRequest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    entity = body.entity if isinstance(body.entity, str) else _frame(body.entity)
    if not isinstance(entity, str):
        import pandas as pd

        entity = entity.infer_objects()
        entity = entity.apply(lambda c: pd.to_numeric(c) if c.map(lambda v: isinstance(v, int | float)).all() else c)
    result = ws.features.build_training_set(entity, body.features, event_time_column=body.event_time_column,
                                            id_columns=body.id_columns, as_of=body.as_of, name=body.name)  # fmt: skip
    return {"rows": _records(result.frame), "dataset": result.dataset.ref if result.dataset else None,
            "feature_groups": result.feature_groups}  # fmt: skip


@router.get("/{name}", responses=errors(404))
def describe(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.features.describe(name)  # type: ignore[no-any-return]


@router.delete("/{name}", status_code=204, responses=errors(404, 409))
def delete_group(name: str, ws: Workspace = Depends(get_workspace)) -> None:
    ws.features.delete_group(name)


@router.post("/{name}/versions", status_code=201, responses=errors(404, 409))
def add_features(name: str, body: AddFeatures, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.features.add_features(name, body.features, description=body.description).to_dict()  # type: ignore[no-any-return]


@router.put("/{name}/records", responses=errors(404, 409, 422))
def put_record(name: str, body: PutRecord, response: Response, idempotency_key: str | None = IDEMPOTENCY_KEY,
               ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    ikey = _idempotency(idempotency_key)
    out = ws.features.put_record(name, body.record, target_stores=body.target_stores, ttl=body.ttl, idempotency_key=ikey)
    _mark_replay(ikey, response)
    return out  # type: ignore[no-any-return]


@router.get("/{name}/records/{record_id}", responses=errors(404))
def get_record(name: str, record_id: str, feature: list[str] | None = Query(None),
               ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    from forgeml.errors import NotFoundError

    record = ws.features.get_record(name, record_id, features=feature)
    if record is None:
        raise NotFoundError(f"record {record_id!r} not found in feature group {name!r}")
    return record  # type: ignore[no-any-return]


@router.post("/{name}/records/batch-get", responses=errors(404, 409))
def batch_get(name: str, body: BatchGet, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    found = ws.features.batch_get(name, body.record_ids, features=body.features)
    return {"records": [r for r in found if r is not None],
            "unprocessed_identifiers": [str(i) for i, r in zip(body.record_ids, found, strict=True) if r is None]}  # fmt: skip


@router.delete("/{name}/records/{record_id}", responses=errors(404, 409))
def delete_record(name: str, record_id: str, event_time: str = Query(...),
                  mode: str = Query("soft", pattern="^(soft|hard)$"), ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    group = ws.features.get_group(name)
    rid: Any = record_id
    if group.types[group.record_identifier] == "Integral" and record_id.lstrip("-").isdigit():
        rid = int(record_id)
    when: Any = float(event_time) if event_time.replace(".", "", 1).isdigit() else event_time
    return ws.features.delete_record(name, rid, when, mode=mode)  # type: ignore[no-any-return]


@router.post("/{name}/ingest", responses=errors(403, 404, 409, 422))
def ingest(name: str, body: Ingest, response: Response, idempotency_key: str | None = IDEMPOTENCY_KEY,
           ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    from forgeml.errors import ValidationError

    ikey = _idempotency(idempotency_key)
    if (body.records is None) == (body.dataset is None):
        raise ValidationError("give exactly one of records or dataset")
    data = body.dataset if body.dataset is not None else _frame(body.records or [])
    out = ws.features.ingest(name, data, batch_size=body.batch_size, target_stores=body.target_stores, idempotency_key=ikey).to_dict()
    _mark_replay(ikey, response)
    return out  # type: ignore[no-any-return]


@router.post("/{name}/stream", responses=errors(404, 409, 422, 503))
def push(name: str, records: Records, response: Response, idempotency_key: str | None = IDEMPOTENCY_KEY,
         ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:  # fmt: skip
    """The streaming push path: validated, then written as one all-or-nothing batch."""
    ikey = _idempotency(idempotency_key)
    out = ws.features.push(name, records, idempotency_key=ikey)
    _mark_replay(ikey, response)
    return out  # type: ignore[no-any-return]


@router.get("/{name}/snapshot", responses=errors(404))
def snapshot(name: str, n: int = Query(1, ge=1, le=MAX_INT), as_of: str | None = None, feature: list[str] | None = Query(None),
             ws: Workspace = Depends(get_workspace)) -> Records:  # fmt: skip
    return _records(ws.features.recent_records(name, n, as_of=as_of, features=feature))


@router.post("/{name}/materialize", responses=errors(404, 409))
def materialize(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.features.materialize(name)  # type: ignore[no-any-return]


@router.get("/{name}/consistency", responses=errors(404))
def consistency(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.features.check_consistency(name)  # type: ignore[no-any-return]


@router.post("/{name}/compact", responses=errors(404, 409))
def compact(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.features.compact(name)  # type: ignore[no-any-return]
