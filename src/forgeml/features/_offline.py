"""The offline store: append-only Parquet per feature group, partitioned by event date.

Layout under ``<home>/features/offline/<group>/``::

    event_date=2026-01-31/part-<batch>.parquet     data files (one per batch and event date)
    _commits/<ns>-<batch>.json                     commit log: files added / removed by a batch
    _pending/<batch>.json                          batches in flight (for crash recovery)
    _lock                                          serializes commits and compaction

With ``encryption_at_rest`` every data file is sealed (:mod:`forgeml.security`) and readers get
decrypted working copies in a folder private to their process; paths handed out then point there.

A batch is visible only once its commit file exists (written to a temporary name and renamed),
so a process killed mid-batch leaves at most unreferenced files, which recovery deletes. The
live file set is the last checkpoint's files plus later commits' additions minus removals.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from forgeml.security import Envelope


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class OfflineStore:
    """Append-only Parquet files of one feature group, with an atomic commit log."""

    def __init__(self, root: Path, group: str, envelope: Envelope | None = None) -> None:
        self.envelope = envelope
        self.dir = root / group
        self.commits = self.dir / "_commits"
        self.pending = self.dir / "_pending"
        for folder in (self.commits, self.pending):
            folder.mkdir(parents=True, exist_ok=True)
        self._cache: tuple[tuple[str, ...], list[str], bool] | None = None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive lock across processes (commits and compaction)."""
        with open(self.dir / "_lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # writing ---------------------------------------------------------------------------------
    def write_files(self, table: pa.Table, batch_id: str, event_time: str, fmt: str = "%Y-%m-%d") -> list[str]:
        """Write ``table`` as one Parquet file per event date (``fmt``: day, month or year; not yet committed).

        Returns the paths relative to the group folder.
        """
        import pyarrow.compute as pc

        dates = pc.strftime(table[event_time], format=fmt)
        out = []
        for date in sorted(set(dates.to_pylist())):
            part = table.filter(pc.equal(dates, date))
            rel = f"event_date={date}/part-{batch_id}.parquet"
            path = self.dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            self._write_table(part, tmp, rel)
            os.replace(tmp, path)
            out.append(rel)
        return out

    def _write_table(self, table: pa.Table, tmp: Path, rel: str) -> None:
        import pyarrow.parquet as pq

        if self.envelope is None:
            pq.write_table(table, tmp)
            return
        plain = tmp.with_name(tmp.name + ".plain")
        try:
            pq.write_table(table, plain)
            self.envelope.seal_file(plain, tmp, f"feature:{self.dir.name}/{rel}")
        finally:
            plain.unlink(missing_ok=True)

    def path(self, rel: str) -> str:
        """A readable path of data file ``rel``: the file itself, or its decrypted working copy."""
        from forgeml.security import MAGIC, is_sealed, plain_cache, plain_copy

        if self.envelope is None:
            path = self.dir / rel
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
                if is_sealed(fh.read(len(MAGIC))):
                    from forgeml.errors import ValidationError

                    raise ValidationError(f"feature file {path} is encrypted: turn encryption_at_rest on (with its master key) to read it")
            return str(path)

        cache = plain_cache(self.dir.parent.parent / "plain" / self.dir.name, self.envelope)
        return str(plain_copy(self.envelope, self.dir / rel, cache, rel, f"feature:{self.dir.name}/{rel}"))

    def commit(self, batch_id: str, add: list[str], remove: list[str] = (), **info: Any) -> None:  # type: ignore[assignment]
        """Make ``add`` visible and ``remove`` invisible, atomically."""
        with self.lock():
            name = f"{time.time_ns():020d}-{batch_id}.json"
            write_json(self.commits / name, {"batch": batch_id, "add": list(add), "remove": list(remove), **info})

    def committed(self, batch_id: str) -> dict[str, Any] | None:
        """The commit entry of a batch, or None when it never committed."""
        for path in self.commits.glob(f"*-{batch_id}.json"):
            entry: dict[str, Any] = json.loads(path.read_text())
            return entry
        return None

    # reading ---------------------------------------------------------------------------------
    def _entries(self) -> list[dict[str, Any]]:
        names = sorted(p.name for p in self.commits.glob("*.json"))
        entries = []
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                entries.append(json.loads((self.commits / name).read_text()))
        return entries

    def state(self) -> tuple[list[str], bool]:
        """The live data files (absolute readable paths) and whether any batch held delete markers."""
        rels, deletes = self.live()
        return [self.path(rel) for rel in rels], deletes

    def live(self) -> tuple[list[str], bool]:
        """The live data files relative to the group folder, and whether any batch held delete markers."""
        names = tuple(sorted(p.name for p in self.commits.glob("*.json")))
        if self._cache is not None and self._cache[0] == names:
            return self._cache[1], self._cache[2]
        entries = self._entries()
        start = max((i for i, e in enumerate(entries) if e.get("checkpoint")), default=0)
        files: dict[str, None] = {}
        deletes = False
        for entry in entries[start:]:
            for rel in entry.get("remove", ()):
                files.pop(rel, None)
            for rel in entry.get("add", ()):
                files[rel] = None
            deletes = deletes or bool(entry.get("has_deletes"))
        rels = list(files)
        self._cache = (names, rels, deletes)
        return rels, deletes

    def files(self) -> list[str]:
        return self.state()[0]

    # maintenance -----------------------------------------------------------------------------
    def compact(self, event_time: str) -> dict[str, int]:
        """Rewrite each event-date partition as one file; rows and their columns are unchanged.

        The swap is one commit (a checkpoint listing the whole live file set), so readers see
        either the old files or the new ones. Old files are deleted after the commit.
        """
        with self.lock():
            before, _ = self.live()
            by_date: dict[str, list[str]] = {}
            for rel in before:
                by_date.setdefault(Path(rel).parent.name, []).append(rel)
            batch_id = f"compact-{uuid.uuid4().hex[:12]}"
            keep, removed, added = [], [], []
            for date, rels in sorted(by_date.items()):
                if len(rels) == 1:
                    keep += rels
                    continue
                table = _concat([self.path(r) for r in rels])
                rel = f"{date}/part-{batch_id}.parquet"
                tmp = self.dir / f"{date}/.part-{batch_id}.tmp"
                self._write_table(table.sort_by([(event_time, "ascending")]), tmp, rel)
                os.replace(tmp, self.dir / rel)
                added.append(rel)
                removed += rels
            if added:
                _, deletes = self.live()
                name = f"{time.time_ns():020d}-{batch_id}.json"
                write_json(self.commits / name, {"batch": batch_id, "add": keep + added, "remove": [],
                                                  "checkpoint": True, "has_deletes": deletes})  # fmt: skip
                for rel in removed:
                    with contextlib.suppress(FileNotFoundError):
                        (self.dir / rel).unlink()
                for old in self.commits.glob("*.json"):
                    if old.name < name:
                        old.unlink()
        return {"files_before": len(before), "files_after": len(before) - len(removed) + len(added),
                "partitions_compacted": len(added)}  # fmt: skip

    def discard_batch(self, batch_id: str) -> int:
        """Delete the data files of a batch that never committed; return how many."""
        count = 0
        live = {str(self.dir / rel) for rel in self.live()[0]}
        for path in self.dir.glob(f"event_date=*/*part-{batch_id}*"):
            if str(path) not in live:
                path.unlink()
                count += 1
        return count

    def size(self) -> dict[str, int]:
        files = [str(self.dir / rel) for rel in self.live()[0]]
        return {"files": len(files), "bytes": sum(os.path.getsize(p) for p in files if os.path.exists(p))}


def _concat(paths: list[str]) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in paths]
    return pa.concat_tables(tables, promote_options="default")
