"""The metadata-store interface. Every backend passes ``forgeml.testing.metadata_contract``."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from forgeml.core.records import (
    ArtifactRecord,
    EdgeRecord,
    EventRecord,
    JobRecord,
    MetricRecord,
    ResourceRecord,
)

RETIRED = "Deleted"  # the status of a deleted (retired) resource version: a tombstone, never returned


class MetadataStore(abc.ABC):
    """Durable records of resources, jobs, events, artifacts, lineage and metrics.

    Implementations must be safe to use from many processes at once. Every method that changes a
    status also appends an event in the same transaction, so the event log never misses a change
    and never records one that did not happen.
    """

    # resources -------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_resource(
        self, record: ResourceRecord, *, next_version: bool = False, within: Callable[[Any, ResourceRecord], None] | None = None
    ) -> ResourceRecord:
        """Insert a resource. With ``next_version`` its version is one past the latest.

        ``within(connection, new_record)`` runs inside the same transaction before it commits
        (writes that must land with the resource or not at all); if it raises, nothing is written.

        Raises:
            AlreadyExistsError: when that kind, name and version exist.
        """

    @abc.abstractmethod
    def get_resource(self, kind: str, name: str, version: int | None = None) -> ResourceRecord:
        """One version (the latest when ``version`` is None).

        Raises:
            NotFoundError: when there is no such resource or version.
        """

    @abc.abstractmethod
    def list_resources(
        self,
        kind: str,
        *,
        name: str | None = None,
        status: str | None = None,
        latest_only: bool = False,
        limit: int | None = None,
    ) -> list[ResourceRecord]:
        """Resources of a kind, newest first."""

    @abc.abstractmethod
    def update_resource(
        self,
        kind: str,
        name: str,
        version: int,
        *,
        status: str | None = None,
        data: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        expected_status: Sequence[str] | None = None,
    ) -> ResourceRecord:
        """Change status, merge ``data`` and ``tags``; refuse if status is not as expected.

        Raises:
            NotFoundError: when the resource does not exist.
            ConflictError: when ``expected_status`` is given and the status differs.
        """

    @abc.abstractmethod
    def delete_resource(self, kind: str, name: str, version: int | None = None) -> int:
        """Delete one version, or all versions when ``version`` is None; return how many."""

    @abc.abstractmethod
    def retire_resource(self, kind: str, name: str, version: int, *, data: dict[str, Any] | None = None) -> ResourceRecord:
        """Delete one version for its users, keeping its row as a tombstone, in one transaction.

        The version's status becomes :data:`RETIRED` (``data`` merged in), the artifacts it owns
        are released (their references and the lineage edges between them and the version go,
        so garbage collection may reclaim them) and a ``Deleted`` event is recorded. From then on :meth:`get_resource` and
        :meth:`list_resources` skip it (unless asked for ``status=RETIRED``); its version number
        is never given again, and lineage edges and events that name it stay.

        Raises:
            NotFoundError: no such (live) version.
        """

    # jobs ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_job(self, record: JobRecord) -> JobRecord:
        """Insert a job.

        Raises:
            AlreadyExistsError: when a job of that name exists.
        """

    @abc.abstractmethod
    def get_job(self, name: str) -> JobRecord:
        """Raises: NotFoundError."""

    @abc.abstractmethod
    def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: Sequence[str] | None = None,
        name_contains: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Jobs, newest first, filtered in the database."""

    @abc.abstractmethod
    def update_job(
        self,
        name: str,
        *,
        expected_status: Sequence[str] | None = None,
        handle_update: dict[str, Any] | None = None,
        add_refs: dict[str, Sequence[str]] | None = None,
        **changes: Any,
    ) -> JobRecord:
        """Compare-and-set update of a job's fields; ``handle_update`` merges into the handle and
        ``add_refs`` (``{"inputs": [...], "outputs": [...]}``) appends refs not yet listed, all in
        one transaction (two processes adding outputs at once lose neither).

        Raises:
            NotFoundError: when the job does not exist.
            ConflictError: when ``expected_status`` is given and the status differs.
        """

    # events ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def append_event(self, resource: str, type: str, data: dict[str, Any] | None = None) -> EventRecord:
        """Persist an event that no status change carries (a webhook hook, a note)."""

    @abc.abstractmethod
    def list_events(
        self,
        *,
        resource: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        newest: bool = False,
        since: float | None = None,
    ) -> list[EventRecord]:
        """Events in the order they happened.

        Args:
            resource: Only events of this resource (or its versions).
            after_id: Only events with a larger id.
            limit: At most this many: the oldest ones, or with ``newest`` the newest ones (still
                returned oldest first).
            newest: Keep the newest ``limit`` events instead of the oldest.
            since: Only events at or after this Unix time.
        """

    # artifacts -------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_artifact(self, record: ArtifactRecord, owner: str | None = None) -> ArtifactRecord:
        """Record an artifact (idempotent) and, optionally, a reference to it from ``owner``."""

    @abc.abstractmethod
    def get_artifact(self, digest: str) -> ArtifactRecord:
        """Raises: NotFoundError."""

    @abc.abstractmethod
    def list_artifacts(self, *, unreferenced_only: bool = False) -> list[ArtifactRecord]:
        """All artifacts, or only those nothing references (no ref, no lineage edge)."""

    @abc.abstractmethod
    def find_artifacts(self, prefix: str, *, limit: int = 10) -> list[ArtifactRecord]:
        """Artifacts whose digest starts with ``prefix`` (lowercase hex), at most ``limit``, by digest."""

    @abc.abstractmethod
    def delete_artifact(self, digest: str) -> None:
        """Forget an artifact and its references."""

    @abc.abstractmethod
    def remove_refs(self, owner: str) -> int:
        """Drop every artifact reference held by ``owner``; return how many."""

    # lineage ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def add_edges(self, edges: Iterable[EdgeRecord]) -> None:
        """Record lineage edges (idempotent)."""

    @abc.abstractmethod
    def list_edges(self, *, src: str | None = None, dst: str | None = None) -> list[EdgeRecord]:
        """Edges leaving ``src`` and/or entering ``dst``."""

    @abc.abstractmethod
    def lineage_nodes(self, prefix: str) -> list[str]:
        """Distinct lineage node references that start with ``prefix``."""

    # metrics ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def log_metrics(self, owner: str, points: Iterable[tuple[str, float, int, float]]) -> None:
        """Append ``(key, value, step, timestamp)`` points to ``owner``'s series."""

    @abc.abstractmethod
    def get_metrics(self, owner: str, key: str | None = None) -> list[MetricRecord]:
        """A series (or all of ``owner``'s series) ordered by key and step."""

    @abc.abstractmethod
    def latest_metrics(self, owners: Sequence[str] | None = None, key: str | None = None) -> dict[str, dict[str, float]]:
        """The last value of each metric per owner: ``{owner: {key: value}}``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
