"""The workspace's own files are off limits as data.

Closing any file descriptor of a file releases every POSIX advisory lock the process holds on
that file (SQLite, "How To Corrupt An SQLite Database File", section 2.2). So when a process that
has the metadata store open reads ``forgeml.db`` (or its ``-wal`` / ``-shm``) through another
handle, as a CSV, a ``sqlite:///`` source or an archive, SQLite's locks are gone: the next
``forgeml`` command in another process then believes it is alone, checkpoints and deletes the
WAL, and this process goes on committing into the deleted file (acknowledged writes, lost).

Every path a user names as data is checked here before anything opens it: after resolving
``~``, symlinks and ``..``, a path inside ``FORGEML_HOME`` (the database, secrets, artifacts,
caches, job folders), the metadata database file wherever it lives, its ``-wal``, ``-shm`` and
``-journal`` files, or a hard link to any of those, is refused with :class:`ForbiddenError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ForbiddenError

if TYPE_CHECKING:
    from forgeml.settings import Settings

SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")
DATABASE_SCHEMES = ("sqlite", "duckdb")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _database_file(url: str) -> str | None:
    """The file of a ``sqlite://`` / ``duckdb://`` URL (None for other URLs and in-memory ones)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0].lower() not in DATABASE_SCHEMES:
        return None
    path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel.db, sqlite:////abs.db
    path = path.split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _local_path(source: str) -> str | None:
    """The local path a data source names (a plain path or ``file://``), else None."""
    if source.startswith("file://"):
        return source[len("file://") :]
    if _URL.match(source):
        return _database_file(source)  # a database URL names a file; s3://, memory://, ... do not
    return source


def _database_files(settings: Settings) -> list[str]:
    path = _database_file(settings.resolved_database_url)
    if path is None:
        return []
    real = os.path.realpath(os.path.expanduser(path))
    return [real + suffix for suffix in SQLITE_SIDE_FILES]


def _inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_path(path: str | os.PathLike[str], settings: Settings, what: str = "data source") -> None:
    """Refuse ``path`` when it resolves inside the workspace or to the metadata database's files.

    Raises:
        ForbiddenError: naming the path and why.
    """
    real = os.path.realpath(os.path.expanduser(os.fspath(path)))
    home = os.path.realpath(settings.resolved_home)
    database = _database_files(settings)
    inside = real == home or real.startswith(home.rstrip(os.sep) + os.sep)
    same = real in database or (
        (ino := _inode(real)) is not None and ino in {i for f in database if (i := _inode(f)) is not None}
    )
    if inside or same:
        where = f"inside the workspace {home}" if inside else f"the metadata database {database[0]}"
        raise ForbiddenError(
            f"{what} {os.fspath(path)} is {where}: the workspace's own files cannot be read as data "
            "(another handle on forgeml.db drops SQLite's locks and loses writes); copy the data outside FORGEML_HOME"
        )


def check_source(source: str, settings: Settings, what: str = "data source") -> None:
    """Refuse a source (path, glob, ``file://`` or database URL) that names a workspace file.

    A glob is checked by the folder before its first wildcard; check each file it expands to
    with :func:`check_files`.

    Raises:
        ForbiddenError: the source is inside the workspace or is the metadata database.
    """
    local = _local_path(str(source))
    if local is None:
        return
    wild = [local.find(ch) for ch in "*?[" if ch in local]
    if wild:
        local = local[: min(wild)].rsplit("/", 1)[0] or "/"
    check_path(local, settings, what)


def check_files(fs: Any, files: Iterable[str], settings: Settings, what: str = "data source") -> None:
    """Refuse the files a source expanded to when any of them is a workspace file (local ones only).

    Raises:
        ForbiddenError: naming the first such file.
    """
    protocol = getattr(fs, "protocol", "file")
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    if protocols & {"file", "local"}:
        for f in files:
            check_path(Path(f), settings, what)


__all__ = ["check_files", "check_path", "check_source"]
