"""Refuse to write once SQLite's files are no longer the ones this process opened.

SQLite's locks are POSIX advisory locks, and closing *any* file descriptor of a file drops every
lock the process holds on it ("How To Corrupt An SQLite Database File", section 2.2). When code
in this process opens ``forgeml.db`` through another handle and closes it, the store's connections
keep running without locks. The next process to close its last connection then finds nobody
else holding the database, checkpoints the WAL and deletes ``forgeml.db-wal`` and ``-shm``;
this process would go on committing into the deleted files, and those writes, acknowledged to
callers, vanish at the next restart.

:class:`FileWatch` records the (device, inode) of the database, its WAL and its shared-memory
file when a connection opens them (or, for a new database, when they first appear), and checks them
before every transaction: while the locks
hold, nobody may remove or replace those files, so a difference means the locks were lost. The
store then raises :class:`~forgeml.errors.BackendUnavailableError` for that transaction and every
later one (a new connection in this process would share the stale shared-memory mapping, so it
cannot recover in place): nothing more is acknowledged, and a restart of the process reopens the
files that are on disk. The check is three ``stat`` calls.
"""

from __future__ import annotations

import os
from typing import Any

from forgeml.errors import BackendUnavailableError

FileId = tuple[int, int] | None
SIDE_FILES = ("", "-wal", "-shm")
INFO_KEY = "forgeml_sqlite_files"


def _identity(path: str) -> FileId:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class FileWatch:
    """The files one SQLite database's connections opened, checked before each transaction.

    Args:
        path: the database file.
        shown: how errors name the store (its URL).
    """

    def __init__(self, path: str, shown: str) -> None:
        self.paths = [os.path.realpath(path) + suffix for suffix in SIDE_FILES]
        self.shown = shown
        self.broken: str | None = None

    def snapshot(self) -> tuple[FileId, ...]:
        """The identity of the database, WAL and shared-memory files on disk now."""
        return tuple(_identity(p) for p in self.paths)

    def opened(self, info: dict[str, Any]) -> None:
        """Record what a connection opened (call once it is in WAL mode, which opens all three)."""
        info[INFO_KEY] = self.snapshot()

    def verify(self, info: dict[str, Any]) -> None:
        """Raise when this store lost its files (now, or in an earlier transaction).

        Raises:
            BackendUnavailableError: the files this connection opened were removed or replaced.
        """
        if self.broken is None:
            before = info.get(INFO_KEY)
            now = self.snapshot()
            if before is not None and now != before:
                # A file not there yet when the connection opened (a new, empty database has no
                # WAL until its first write) is adopted when it appears; any other change is loss.
                changed = [os.path.basename(p) for p, a, b in zip(self.paths, before, now, strict=True) if a is not None and a != b]
                if not changed:
                    info[INFO_KEY] = now
                    return
                self.broken = (
                    f"metadata store {self.shown}: {', '.join(changed)} is no longer the file this process "
                    "opened (a handle on the database opened and closed in this process dropped SQLite's locks, "
                    "and another process then removed it); refusing to write into a deleted file: restart this process"
                )
        if self.broken is not None:
            raise BackendUnavailableError(self.broken)


__all__ = ["FileWatch"]
