"""Storing analysis results as resources: JSON (and HTML) artifacts, lineage, metrics."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.errors import NotFoundError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace


def default_name(*candidates: str | None, fallback: str) -> str:
    """The first candidate reference turned into a valid resource name (``dataset/loans:3`` -> ``loans``)."""
    for ref in candidates:
        if ref and not ref.startswith("artifact/"):
            base = ref.split("/", 1)[-1].split(":", 1)[0]
            name = re.sub(r"[^A-Za-z0-9-]+", "-", base).strip("-")[:63]
            if name:
                return name
    return fallback


def store_result(
    ws: Workspace,
    kind: str,
    name: str,
    *,
    spec: dict[str, Any],
    data: dict[str, Any],
    documents: dict[str, tuple[bytes, str]],
    inputs: dict[str, str | None],
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    status: str = "Completed",
) -> ResourceRecord:
    """Put each document into the artifact store, then create the next version of the resource.

    Artifacts are written first and the resource last, so a failure leaves no half-made record.
    ``documents`` maps a key (``"report"``, ``"html"``) to ``(bytes, media type)``; the resource's
    ``data["artifacts"]`` maps the same keys to digests. ``inputs`` maps a relation to a lineage
    reference (model, dataset) recorded as an edge into the new resource.

    Raises:
        ValidationError: a bad name.
    """
    validate_name(name, f"{kind} name")
    digests = {}
    for key, (payload, media_type) in documents.items():
        digests[key] = ws.artifacts.put_bytes(payload, media_type=media_type).digest
    record = ws.metadata.create_resource(
        ResourceRecord(kind=kind, name=name, status=status, spec=spec,
                       data={**data, "artifacts": digests}, tags=tags or {}),
        next_version=True,
    )  # fmt: skip
    for digest in digests.values():
        ws.metadata.put_artifact(ws.metadata.get_artifact(digest), owner=record.ref)
        ws.lineage.record(f"artifact/{digest}", record.ref, "stored-as")
    for relation, ref in inputs.items():
        if ref:
            ws.lineage.record(ref, record.ref, relation)
    if metrics:
        now = time.time()
        ws.metadata.log_metrics(record.ref, [(k, float(v), 0, now) for k, v in metrics.items()])
    return record


def get_record(ws: Workspace, kind: str, ref: str | ResourceRecord, version: int | None = None) -> ResourceRecord:
    """The resource behind ``ref`` (``name``, ``name:3``, ``name@latest``, ``kind/name:3``; the
    latest version when none is given); see :func:`forgeml.core.refs.resolve`.

    Raises:
        ValidationError: a malformed reference or one to another kind.
        NotFoundError: no such resource or version.
    """
    from forgeml.core.refs import resolve

    return resolve(ws.metadata, ref, kind, version=version)


def read_document(ws: Workspace, record: ResourceRecord, key: str) -> bytes:
    """The bytes of one stored document of ``record``.

    Raises:
        NotFoundError: the resource has no such document.
    """
    digest = record.data.get("artifacts", {}).get(key)
    if not digest:
        raise NotFoundError(f"{record.ref} has no {key} document")
    return ws.artifacts.read_bytes(digest)





def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN / ±inf as "NaN" / "Infinity" / "-Infinity"."""
    import math

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def json_bytes(obj: Any) -> bytes:
    import json

    return json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False).encode()
__all__ = ["default_name", "get_record", "json_bytes", "jsonable", "read_document", "store_result"]
