"""A live endpoint's capacity: how many worker processes (instances) each variant has now.

SageMaker's ``DesiredInstanceCount`` of a variant is, here, the variant's share of the endpoint
server's worker pool: the pool has ``sum(variant counts)`` workers and each worker serves every
variant (weights pick the variant per request). Changing a count writes ``scale.json`` in the
serving version's runtime folder, which the server's supervisor (:mod:`forgeml.serving._scale`)
follows without a restart and without failing a request; the record's ``data`` keeps
``instance_counts`` (per variant) and ``workers`` (their sum, what the async dispatcher and the
backlog metric divide by). Setting a count is absolute, so applying it twice is applying it once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from forgeml.core.refs import name_of
from forgeml.errors import BackendUnavailableError, ConflictError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace

KIND = "endpoint"
MAX_WORKERS = 64


def instance_counts(record: ResourceRecord) -> dict[str, int]:
    """Each variant's instance count on this endpoint version (its config's ``workers`` until
    it was scaled)."""
    counts = record.data.get("instance_counts")
    if counts:
        return {str(k): int(v) for k, v in counts.items()}
    return {v["name"]: int(v.get("workers", 1)) for v in record.spec.get("variants", [])}


def pool_state(record: ResourceRecord) -> dict[str, Any]:
    """What the server's supervisor reports: desired, running, ready and draining workers."""
    runtime = record.data.get("runtime_dir")
    if not runtime:
        return {}
    try:
        return dict(orjson.loads((Path(runtime) / "workers.json").read_bytes()))
    except (OSError, orjson.JSONDecodeError, TypeError):
        return {}


def serving_record(ws: Workspace, endpoint: str) -> ResourceRecord:
    """The endpoint version whose pool scaling changes (the newest InService one).

    Raises:
        NotFoundError: no such endpoint. ConflictError: it is not InService.
    """
    name = name_of(endpoint, KIND)
    latest = ws.endpoints.get(name)
    if latest.status != "InService" or not latest.data.get("runtime_dir"):
        raise ConflictError(f"endpoint {name!r} is {latest.status}; changing its capacity needs InService")
    return latest


def set_instance_count(
    ws: Workspace, endpoint: str, variant: str, count: int, *, wait: bool = True, timeout: float = 60.0
) -> ResourceRecord:
    """Give ``variant`` of the live ``endpoint`` ``count`` worker processes.

    Args:
        wait: return once the pool has exactly the new number of ready workers (drained ones
            gone), else right after the request was written.

    Raises:
        NotFoundError: no such endpoint or variant. ConflictError: not InService.
        ValidationError: a count below 0 or a pool above 64 workers.
        BackendUnavailableError: the pool did not reach the count within ``timeout``.
    """
    record = serving_record(ws, endpoint)
    counts = instance_counts(record)
    if variant not in counts:
        raise NotFoundError(f"endpoint {record.name!r} has no variant {variant!r} (variants: {', '.join(counts)})")
    if not isinstance(count, int) or count < 0:
        raise ValidationError(f"an instance count must be a whole number >= 0, got {count!r}")
    counts[variant] = count
    total = sum(counts.values())
    if total > MAX_WORKERS:
        raise ValidationError(f"endpoint {record.name!r} would have {total} workers, more than {MAX_WORKERS}")
    runtime = Path(record.data["runtime_dir"])
    body = {"workers": total, "variants": counts, "requested_at": time.time()}
    tmp = runtime / "scale.tmp"
    tmp.write_bytes(orjson.dumps(body))
    tmp.replace(runtime / "scale.json")
    out = ws.metadata.update_resource(KIND, record.name, record.version, data={"instance_counts": counts, "workers": total})
    if wait:
        wait_for_pool(out, total, timeout)
    return out


def wait_for_pool(record: ResourceRecord, workers: int, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the server's pool has ``workers`` ready workers and none draining.

    Raises:
        BackendUnavailableError: not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = pool_state(record)
        if state.get("desired") == workers and state.get("ready") == workers and state.get("running") == workers and not state.get("draining"):
            return state
        time.sleep(0.05)
    raise BackendUnavailableError(f"endpoint {record.name!r} did not reach {workers} ready workers within {timeout:g} s (now {state or 'unknown'})")


__all__ = ["instance_counts", "pool_state", "serving_record", "set_instance_count", "wait_for_pool"]
