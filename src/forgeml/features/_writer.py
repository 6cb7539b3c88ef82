"""Writing batches to both stores, all or nothing, and recovering batches cut short.

A batch goes: journal entry (``_pending/<batch>.json``) -> Parquet files -> offline commit ->
one atomic online apply -> journal entry removed. A process killed anywhere leaves each store
holding whole batches only: uncommitted files are invisible, and the online apply is a single
transaction (SQLite) or script (Redis). :meth:`BatchWriter.recover` then finishes the job: a
committed batch is re-applied online (idempotent under the newer-event-time rule), an
uncommitted one has its files deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forgeml.features._definitions import PARTITIONS
from forgeml.features._offline import write_json
from forgeml.features._online import OnlineOp
from forgeml.features._records import to_arrow

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from forgeml.features._definitions import FeatureGroup
    from forgeml.features._offline import OfflineStore
    from forgeml.features._online import OnlineStore

TARGETS = ("online", "offline")


@dataclass(frozen=True)
class BatchResult:
    """What one batch wrote."""

    batch_id: str
    rows: int
    offline_rows: int
    online_changed: int


def now_us() -> int:
    return time.time_ns() // 1000


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def online_ops(group: FeatureGroup, table: pa.Table, ttl_seconds: float | None, *, kind: str = "put") -> list[OnlineOp]:
    """Online operations for a normalized batch: one per record id, the first row with the
    greatest event time (what applying the rows one by one under the strictly-newer rule keeps).

    Rows with ``is_deleted`` become soft deletes.
    """
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc

    rid, et = group.record_identifier, group.event_time_feature
    n = table.num_rows
    if n == 0:
        return []
    table = table.append_column("__i", pa.array(range(n), pa.int64()))
    ordered = table.sort_by([(rid, "ascending"), (et, "descending"), ("__i", "ascending")])
    ids = ordered[rid]
    keep = pc.invert(pc.equal(ids.slice(1), ids.slice(0, n - 1))) if n > 1 else pa.array([], pa.bool_())
    mask = pa.concat_arrays([pa.array([True]), keep.combine_chunks() if n > 1 else keep])
    chosen = ordered.filter(mask)
    times = pc.cast(chosen[et], pa.int64()).to_pylist()
    deleted = chosen["is_deleted"].to_pylist() if "is_deleted" in chosen.column_names else [False] * chosen.num_rows
    cols = [f.name for f in group.features]
    for name in cols:
        if name not in chosen.column_names:
            chosen = chosen.append_column(name, pa.nulls(chosen.num_rows))
    rows = chosen.select(cols).to_pylist()
    ttl_us = None if ttl_seconds is None else round(ttl_seconds * 1_000_000)
    ops = []
    for row, t, is_del in zip(rows, times, deleted, strict=True):
        record_id = str(row[rid])
        if is_del:
            ops.append(OnlineOp("soft_delete", record_id, t))
        else:
            ops.append(OnlineOp(kind, record_id, t, None if ttl_us is None else t + ttl_us, orjson.dumps(row).decode()))
    return ops


class BatchWriter:
    """Writes normalized batches of one workspace's feature groups to the two stores."""

    def __init__(self, online: OnlineStore) -> None:
        self.online = online
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def write(
        self,
        group: FeatureGroup,
        offline: OfflineStore | None,
        frame: pd.DataFrame,
        *,
        deleted: bool = False,
        targets: tuple[str, ...] = TARGETS,
        ttl_seconds: float | None = None,
        hard_delete: bool = False,
        batch_id: str | None = None,
    ) -> BatchResult:
        """Write one batch; ``frame`` is already normalized (see ``normalize``).

        A ``batch_id`` already committed offline is not written there again (an idempotent retry);
        the online apply is idempotent anyway (only a strictly newer event time changes a record).
        """
        import pyarrow as pa

        batch_id = batch_id or uuid.uuid4().hex
        n = len(frame)
        table = to_arrow(group, frame)
        t0 = now_us()
        api = pa.array([t0 + i for i in range(n)], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        table = table.append_column("api_invocation_time", api)
        to_offline = offline is not None and group.offline_enabled and "offline" in targets and not offline.committed(batch_id)
        to_online = group.online_enabled and "online" in targets
        ttl = ttl_seconds if ttl_seconds is not None else group.online_ttl_seconds
        with self._lock:
            self._inflight.add(batch_id)
        try:
            offline_rows = 0
            if to_offline:
                assert offline is not None
                pending = offline.pending / f"{batch_id}.json"
                write_json(pending, {"batch": batch_id, "pid": os.getpid(), "online": to_online})
                write_time = max(now_us(), t0 + n)
                wt = pa.array([write_time] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
                full = table.append_column("write_time", wt).append_column("is_deleted", pa.array([deleted] * n, pa.bool_()))
                files = offline.write_files(full, batch_id, group.event_time_feature, PARTITIONS[group.offline_partition])
                offline.commit(batch_id, files, rows=n, has_deletes=deleted)
                offline_rows = n
            changed = 0
            if to_online:
                if deleted:
                    kind = "hard_delete" if hard_delete else "soft_delete"
                    ops = [OnlineOp(kind, str(r), int(t.value // 1000) if hasattr(t, "value") else int(t))
                           for r, t in zip(frame[group.record_identifier], frame[group.event_time_feature], strict=True)]  # fmt: skip
                else:
                    ops = online_ops(group, table, ttl)
                changed = self.online.apply(group.name, ops)
            if to_offline:
                assert offline is not None
                with contextlib.suppress(FileNotFoundError):
                    (offline.pending / f"{batch_id}.json").unlink()
            return BatchResult(batch_id, n, offline_rows, changed)
        finally:
            with self._lock:
                self._inflight.discard(batch_id)

    def recover(self, group: FeatureGroup, offline: OfflineStore) -> dict[str, int]:
        """Finish or undo batches whose writer died; return counts of replayed and discarded."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        replayed = discarded = 0
        for path in sorted(offline.pending.glob("*.json")):
            try:
                info = json.loads(path.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                continue
            batch_id, pid = info.get("batch", path.stem), int(info.get("pid", 0))
            with self._lock:
                ours = batch_id in self._inflight
            if ours or (pid != os.getpid() and _alive(pid)):
                continue
            entry = offline.committed(batch_id)
            if entry is None:
                offline.discard_batch(batch_id)
                discarded += 1
            elif info.get("online") and group.online_enabled:
                tables = [pq.read_table(offline.path(rel)) for rel in entry.get("add", ())]
                if tables:
                    table = pa.concat_tables(tables, promote_options="default")
                    self.online.apply(group.name, online_ops(group, table, group.online_ttl_seconds))
                replayed += 1
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return {"replayed": replayed, "discarded": discarded}
