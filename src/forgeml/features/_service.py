"""``ws.features``: feature groups, ingestion, online reads and offline queries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeml.core.records import ResourceRecord
from forgeml.core.refs import name_of
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.features._definitions import (
    KIND,
    FeatureDefinition,
    FeatureGroup,
    build_group,
    infer_definitions,
)
from forgeml.features._offline import OfflineStore
from forgeml.features._online import make_online_store
from forgeml.features._queries import QueryMixin
from forgeml.features._records import normalize, parse_event_times, record_frame
from forgeml.features._writer import TARGETS, BatchWriter, now_us

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.idempotency import IdempotencyKey
    from forgeml.core.workspace import Workspace
    from forgeml.features._online import OnlineStore
    from forgeml.features._stream import FeatureStream

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class IngestResult:
    """Totals of one ingestion."""

    group: str
    version: int
    rows: int
    batches: int
    online_changed: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _targets(target_stores: Iterable[str] | None) -> tuple[str, ...]:
    if target_stores is None:
        return TARGETS
    out = tuple(str(t).lower().replace("store", "") for t in target_stores)
    bad = [t for t in out if t not in TARGETS]
    if bad or not out:
        raise ValidationError(f"invalid target stores {list(target_stores)!r} (expected online and/or offline)")
    return out


class FeatureStoreService(QueryMixin):
    """The feature store of one workspace (SageMaker Feature Store semantics)."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.root = workspace.home / "features" / "offline"
        self._online: OnlineStore | None = None
        self._writer: BatchWriter | None = None
        self._groups: dict[str, FeatureGroup] = {}
        self._recovered: set[str] = set()
        self._lock = threading.RLock()

    # stores ----------------------------------------------------------------------------------
    @property
    def online(self) -> OnlineStore:
        with self._lock:
            if self._online is None:
                self._online = make_online_store(self.ws.settings.online_store_url, self.ws.home)
            return self._online

    @property
    def writer(self) -> BatchWriter:
        with self._lock:
            if self._writer is None:
                self._writer = BatchWriter(self.online)
            return self._writer

    def offline(self, name: str) -> OfflineStore:
        return OfflineStore(self.root, name, self.ws.artifacts.envelope)

    def recover(self, name: str) -> dict[str, int]:
        """Finish or undo batches of ``name`` left by a killed writer."""
        name = name_of(name, KIND)
        group = self.get_group(name)
        result = self.writer.recover(group, self.offline(name))
        self._recovered.add(name)
        return result

    def _ready(self, name: str) -> FeatureGroup:
        name = name_of(name, KIND)
        group = self.get_group(name)
        if name not in self._recovered:
            self.recover(name)
        return group

    # groups ----------------------------------------------------------------------------------
    def create_group(
        self,
        name: str,
        *,
        record_identifier: str,
        event_time_feature: str,
        features: list[Any] | pd.DataFrame,
        description: str | None = None,
        online_ttl: float | int | str | None = None,
        online_enabled: bool = True,
        offline_enabled: bool = True,
        tags: dict[str, str] | None = None,
        offline_partition: str = "day",
    ) -> FeatureGroup:
        """Create version 1 of a feature group. ``features`` may be definitions or a frame to infer them from.

        Raises:
            AlreadyExistsError: when the group exists (use :meth:`add_features`).
            ValidationError: for an invalid definition.
        """
        if not isinstance(features, list):
            features = infer_definitions(features, event_time_feature)
        group = build_group(
            name, record_identifier, event_time_feature, features, description=description, online_ttl=online_ttl,
            online_enabled=online_enabled, offline_enabled=offline_enabled, tags=tags, offline_partition=offline_partition,
        )  # fmt: skip
        if not (online_enabled or offline_enabled):
            raise ValidationError(f"feature group {name!r}: enable the online store, the offline store or both")
        if self.ws.metadata.list_resources(KIND, name=name):
            raise AlreadyExistsError(f"feature group {name!r} already exists (add features to make a new version)")
        record = self.ws.metadata.create_resource(
            ResourceRecord(kind=KIND, name=name, version=1, status="Created", spec=group.to_spec(), tags=group.tags)
        )
        return self._cache(FeatureGroup.from_record(record))

    def add_features(self, name: str, features: list[Any], *, description: str | None = None) -> FeatureGroup:
        """Make the next version with extra features; an existing feature keeps its type.

        Raises:
            ValidationError: retyping a feature, or no new feature given.
        """
        name = name_of(name, KIND)
        current = self.get_group(name)
        merged = list(current.features)
        added = 0
        for raw in features:
            feature = FeatureDefinition.parse(raw)
            if feature.name in current.types:
                if current.types[feature.name] != feature.type:
                    raise ValidationError(
                        f"feature group {name!r}: feature {feature.name!r} is {current.types[feature.name]}; "
                        f"changing it to {feature.type} is not allowed (add a feature with a new name)"
                    )
                continue
            merged.append(feature)
            added += 1
        if not added:
            raise ValidationError(f"feature group {name!r}: no new features to add")
        group = build_group(
            name, current.record_identifier, current.event_time_feature, merged, version=current.version + 1,
            description=description or current.description, online_ttl=current.online_ttl_seconds,
            online_enabled=current.online_enabled, offline_enabled=current.offline_enabled, tags=current.tags,
            offline_partition=current.offline_partition,
        )  # fmt: skip
        record = self.ws.metadata.create_resource(
            ResourceRecord(kind=KIND, name=name, status="Created", spec=group.to_spec(), tags=group.tags), next_version=True
        )
        self.ws.lineage.record(current.ref, record.ref, "new-version")
        return self._cache(FeatureGroup.from_record(record))

    def _cache(self, group: FeatureGroup) -> FeatureGroup:
        with self._lock:
            self._groups[group.name] = group
        return group

    def get_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """One version of a feature group: ``name`` is any reference (``clicks``, ``clicks:2``,
        ``feature-group/clicks``); the latest version by default.

        Raises:
            ValidationError: a malformed reference. NotFoundError: unknown group or version.
        """
        from forgeml.core.refs import parse_ref, resolve

        ref = parse_ref(name, KIND, version=version)
        if ref.selector in (None, "latest"):
            cached = self._groups.get(ref.name)
            if cached is not None:
                return cached
        group = FeatureGroup.from_record(resolve(self.ws.metadata, ref, KIND))
        return self._cache(group) if ref.selector in (None, "latest") else group

    def list_groups(self) -> list[FeatureGroup]:
        return [FeatureGroup.from_record(r) for r in self.ws.metadata.list_resources(KIND, latest_only=True)]

    def versions(self, name: str) -> list[FeatureGroup]:
        name = name_of(name, KIND)
        found = self.ws.metadata.list_resources(KIND, name=name)
        if not found:
            raise NotFoundError(f"feature group {name!r} does not exist")
        return [FeatureGroup.from_record(r) for r in found]

    def describe(self, name: str) -> dict[str, Any]:
        """A version of the group (the latest unless ``name`` names one), its stores and lineage."""
        group = self.get_group(name)
        name = group.name
        out = group.to_dict()
        out["offline_store"] = {"path": str(self.offline(name).dir), **self.offline(name).size()}
        out["online_store"] = self.ws.settings.online_store_url
        out["versions"] = [g.version for g in self.versions(name)]
        out["lineage"] = [e.to_dict() for e in self.ws.metadata.list_edges(dst=group.ref)]
        return out

    def delete_group(self, name: str) -> None:
        """Delete every version, the offline files and the online records of a group."""
        import shutil
        name = name_of(name, KIND)

        self.get_group(name)
        self.online.drop_group(name)
        shutil.rmtree(self.offline(name).dir, ignore_errors=True)
        self.ws.metadata.delete_resource(KIND, name)
        with self._lock:
            self._groups.pop(name, None)
            self._recovered.discard(name)

    # ingestion -------------------------------------------------------------------------------
    def ingest(
        self,
        name: str,
        data: pd.DataFrame | str | ResourceRecord,
        *,
        batch_size: int = 50_000,
        workers: int = 2,
        target_stores: Iterable[str] | None = None,
        progress: Progress | None = None,
        job: str | None = None,
        idempotency_key: str | IdempotencyKey | None = None,
    ) -> IngestResult:
        """Bulk-ingest a frame or a dataset (``name``, ``name:version`` or its record).

        Every row is validated before anything is written; batches are then written in
        parallel, each all-or-nothing in both stores. With ``idempotency_key`` a retry of the
        same ingest returns the first result and writes nothing (see ``forgeml.core.idempotency``).

        Raises:
            ValidationError: a bad value anywhere in the data (nothing is written).
        """
        name = name_of(name, KIND)
        group = self._ready(name)
        targets = _targets(target_stores)
        if batch_size < 1 or workers < 1:
            raise ValidationError("batch_size and workers must be at least 1")
        from forgeml.core import idempotency as idem

        ikey = idem.as_key(idempotency_key)
        source = None
        if not hasattr(data, "columns"):
            source, data = self._dataset(data)
        frame = normalize(group, data)
        if ikey is not None:
            import pandas as pd

            rows = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
            params = {"group": name, "columns": [str(c) for c in frame.columns], "targets": targets, "batch_size": batch_size}
            body = self.ws.idempotency.run(ikey, "features.ingest", idem.fingerprint("features.ingest", params, rows),
                                           lambda seed: self._ingest_frame(group, frame, targets, batch_size, workers, progress, source, job, seed).to_dict())  # fmt: skip
            return IngestResult(**body)
        return self._ingest_frame(group, frame, targets, batch_size, workers, progress, source, job, None)

    def _ingest_frame(self, group: FeatureGroup, frame: pd.DataFrame, targets: tuple[str, ...], batch_size: int, workers: int,
                      progress: Progress | None, source: ResourceRecord | None, job: str | None, seed: str | None) -> IngestResult:  # fmt: skip
        name = group.name
        total = len(frame)
        offline = self.offline(name)
        starts = list(range(0, total, batch_size))
        done, changed = 0, 0
        lock = threading.Lock()

        def one(start: int) -> None:
            nonlocal done, changed
            part = frame.iloc[start : start + batch_size]
            result = self.writer.write(group, offline, part, targets=targets, batch_id=f"{seed}-{start}" if seed else None)
            with lock:
                done += result.rows
                changed += result.online_changed
                if progress:
                    progress(done, total)

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(starts) or 1))) as pool:
            for future in [pool.submit(one, s) for s in starts]:
                future.result()
        if source is not None:
            self.ws.lineage.record(source.ref, group.ref, "ingested")
        if job:
            self.ws.lineage.record(f"job/{job}", group.ref, "ingested", job=job)
        self.ws.metadata.update_resource(KIND, name, group.version, status="Active", data={"last_ingest_rows": total})
        return IngestResult(name, group.version, total, len(starts), changed)

    def submit_ingest(self, name: str, dataset: str, *, batch_size: int = 50_000, workers: int = 2) -> Any:
        """Ingest a dataset in a processing job (returns the JobRecord; ``ws.jobs.wait`` it)."""
        name = name_of(name, KIND)
        self.get_group(name)
        config = {"group": name, "dataset": dataset, "batch_size": batch_size, "workers": workers}
        return self.ws.jobs.submit("processing", "forgeml.features._jobs:ingest_job", config)

    def _dataset(self, ref: str | ResourceRecord) -> tuple[ResourceRecord, pd.DataFrame]:
        record = self.ws.datasets.get(ref)
        return record, self.ws.datasets.read(record)

    def put_record(
        self, name: str, record: dict[str, Any], *, target_stores: Iterable[str] | None = None,
        ttl: float | int | str | None = None, idempotency_key: str | IdempotencyKey | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """PutRecord: offline always; online only if its event time is newer than the stored one.

        Returns ``{"online_updated": bool}``. With ``idempotency_key`` a retry returns the first
        answer and writes nothing.
        """
        from forgeml.core import idempotency as idem
        from forgeml.features._definitions import parse_ttl
        name = name_of(name, KIND)

        ikey = idem.as_key(idempotency_key)
        group = self._ready(name)
        frame = normalize(group, record_frame(group, record))
        targets, ttl_seconds = _targets(target_stores), parse_ttl(ttl)

        def write(batch_id: str | None) -> dict[str, Any]:
            result = self.writer.write(group, self.offline(name), frame, targets=targets, ttl_seconds=ttl_seconds, batch_id=batch_id)
            return {"online_updated": bool(result.online_changed)}

        params = {"group": name, "record": record, "targets": targets, "ttl": ttl_seconds}
        return self.ws.idempotency.run(ikey, "features.put_record", idem.fingerprint("features.put_record", params), write)  # type: ignore[no-any-return]

    def delete_record(
        self, name: str, record_id: Any, event_time: Any, *, mode: str = "soft",
        target_stores: Iterable[str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """DeleteRecord: append a delete marker offline and soft- or hard-delete online.

        Raises:
            ValidationError: unknown mode, or a hard delete whose event time is not later than
                the online record's (then nothing is written).
        """
        import pandas as pd
        name = name_of(name, KIND)

        if mode not in ("soft", "hard"):
            raise ValidationError(f"invalid deletion mode {mode!r} (expected soft or hard)")
        group = self._ready(name)
        frame = normalize(group, record_frame(group, {group.record_identifier: record_id, group.event_time_feature: event_time}))
        rid = str(frame[group.record_identifier].iloc[0])
        t_us = int(parse_event_times(pd.Series([frame[group.event_time_feature].iloc[0]]), "delete").iloc[0].value // 1000)
        targets = _targets(target_stores)
        if mode == "hard" and "online" in targets and group.online_enabled:
            stored = self.online.get(name, rid)
            if stored is not None and t_us <= stored.event_time_us:
                raise ValidationError(
                    f"feature group {name!r}: hard delete of {rid!r} needs an event time later than the online record's"
                )
        result = self.writer.write(group, self.offline(name), frame, deleted=True, targets=targets, hard_delete=mode == "hard")
        return {"online_updated": bool(result.online_changed), "mode": mode}

    def push(self, name: str, records: list[dict[str, Any]], *, idempotency_key: str | IdempotencyKey | None = None) -> dict[str, Any]:
        """Push records (the REST streaming path): all validated, then written as one batch.

        With ``idempotency_key`` a retry returns the first answer and writes nothing.

        Raises:
            ValidationError: naming the first bad record (nothing is written).
        """
        import pandas as pd
        name = name_of(name, KIND)

        from forgeml.core import idempotency as idem

        group = self._ready(name)
        if not records:
            return {"written": 0, "online_changed": 0}
        frames = []
        for i, record in enumerate(records):
            try:
                frames.append(normalize(group, record_frame(group, record)))
            except ValidationError as exc:
                raise ValidationError(f"record {i}: {exc.message}") from None
        frame = pd.concat(frames, ignore_index=True)

        def write(batch_id: str | None) -> dict[str, Any]:
            result = self.writer.write(group, self.offline(name), frame, batch_id=batch_id)
            return {"written": result.rows, "online_changed": result.online_changed}

        ikey = idem.as_key(idempotency_key)
        return self.ws.idempotency.run(ikey, "features.push", idem.fingerprint("features.push", {"group": name, "records": records}), write)  # type: ignore[no-any-return]

    def stream(self, name: str, *, max_records: int = 1000, max_delay: float = 1.0) -> FeatureStream:
        """A buffered push stream into ``name`` (flushes every ``max_records`` or ``max_delay`` s)."""
        from forgeml.features._stream import FeatureStream
        name = name_of(name, KIND)

        self._ready(name)
        return FeatureStream(self, name, max_records=max_records, max_delay=max_delay)

    # online reads ----------------------------------------------------------------------------
    def get_record(self, name: str, record_id: Any, features: list[str] | None = None) -> dict[str, Any] | None:
        """GetRecord: the latest visible record (None when absent, deleted or expired)."""
        name = name_of(name, KIND)
        group = self._online_group(name)
        stored = self.online.get(name, str(record_id))
        if stored is None or not stored.visible(now_us()):
            return None
        return _project(group, stored.values(), features)

    def batch_get(self, name: str, record_ids: list[Any], features: list[str] | None = None) -> list[dict[str, Any] | None]:
        """BatchGetRecord: one entry per id, in order (None where not visible)."""
        name = name_of(name, KIND)
        group = self._online_group(name)
        now = now_us()
        stored = self.online.get_many(name, [str(r) for r in record_ids])
        return [_project(group, s.values(), features) if s is not None and s.visible(now) else None for s in stored]

    def _online_group(self, name: str) -> FeatureGroup:
        group = self.get_group(name)
        if not group.online_enabled:
            raise ValidationError(f"feature group {name!r} has no online store (it was created offline-only)")
        return group

    def close(self) -> None:
        if self._online is not None:
            self._online.close()


def _project(group: FeatureGroup, values: dict[str, Any], features: list[str] | None) -> dict[str, Any]:
    if features is None:
        return values
    keep = group.check_features(features)
    keys = [group.record_identifier, group.event_time_feature, *keep]
    return {k: values.get(k) for k in keys}


__all__ = ["FeatureStoreService", "IngestResult"]
