"""Who is using a resource version right now, so deleting it can be refused while they do.

A version is in use when a job that has not ended reads it (it is one of the job's inputs, or
its configuration names it: a training job's channel, a tuning job's training channels, a
transform job's dataset or model), or when an endpoint that is being created, serving or updating
loads it (a variant's model). A reference without a version (``dataset/loans``, ``loans``) counts
as naming the latest version, which is what the job would read next.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace

LIVE_ENDPOINT = ("Creating", "InService", "Updating")


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (dict values and keys' values, list items)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _names(record: ResourceRecord, latest: bool) -> set[str]:
    """The spellings that name ``record`` in a job's inputs or config."""
    kind, name, version = record.kind, record.name, record.version
    exact = {f"{kind}/{name}:{version}", f"{name}:{version}"}
    if latest:
        exact |= {f"{kind}/{name}", f"{kind}/{name}@latest", f"{name}@latest"}
    return exact


def users(ws: Workspace, record: ResourceRecord) -> list[str]:
    """Who uses ``record`` now, as ``job/NAME (Status)`` or ``endpoint/NAME:V (Status)``, sorted.

    Args:
        ws: the workspace.
        record: a dataset or model version.
    """
    from forgeml.core.jobs._states import ACTIVE
    from forgeml.errors import NotFoundError

    store = ws.metadata
    try:
        latest = store.get_resource(record.kind, record.name).version == record.version
    except NotFoundError:  # the name has no live version left: nothing reads "the latest" of it
        latest = False
    names = _names(record, latest)
    found: set[str] = set()
    for job in store.list_jobs(status=list(ACTIVE)):
        if names & (set(job.inputs) | set(_strings(job.config))):
            found.add(f"{job.ref} ({job.status})")
    if record.kind == "model":
        for endpoint in store.list_resources("endpoint"):
            if endpoint.status not in LIVE_ENDPOINT:
                continue
            sources = {v.get("source_ref") for v in endpoint.data.get("variants") or []}
            models = {str(v.get("model")) for v in endpoint.spec.get("variants") or []}
            if record.ref in sources or (names | ({record.name} if latest else set())) & models:
                found.add(f"{endpoint.ref} ({endpoint.status})")
    return sorted(found)


def require_version(text: Any, kind: str, version: int | str | None) -> None:
    """Deleting takes one version, named: ``loans:3`` (or an alias), never a bare name.

    Raises:
        ValidationError: ``text`` names no version and ``version`` is None.
    """
    from forgeml.core.records import ResourceRecord
    from forgeml.core.refs import parse_ref
    from forgeml.errors import ValidationError

    if version is not None or isinstance(text, ResourceRecord):
        return
    ref = parse_ref(text, kind)
    if ref.version is None and ref.alias is None:
        raise ValidationError(f"name the version to delete, e.g. {ref.name}:1 (a bare name would mean the latest)")


def retire(ws: Workspace, record: ResourceRecord, *, by: str, reason: str | None, blockers: list[str] | None = None) -> ResourceRecord:
    """Delete one version (a tombstone, see ``MetadataStore.retire_resource``) unless it is in use.

    Args:
        ws: the workspace.
        record: the live version to delete.
        by: who deletes it (recorded with the tombstone and its ``Deleted`` event).
        reason: why (recorded too).
        blockers: other reasons to refuse, already phrased (``alias champion points to it``).

    Raises:
        ConflictError: something uses the version; the message names every user.
    """
    import time

    from forgeml.core.records import iso
    from forgeml.errors import ConflictError

    found = [*(blockers or []), *(f"{u} uses it" for u in users(ws, record))]
    if found:
        raise ConflictError(f"cannot delete {record.ref}: {'; '.join(found)}")
    return ws.metadata.retire_resource(record.kind, record.name, record.version,
                                       data={"deleted": {"by": by, "at": iso(time.time()), "reason": reason}})  # fmt: skip


__all__ = ["LIVE_ENDPOINT", "require_version", "retire", "users"]
