"""SQL metadata store on SQLAlchemy 2: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine, Row

from forgeml.core.metadata import _schema as t
from forgeml.core.metadata._base import RETIRED, MetadataStore
from forgeml.core.metadata._sqlite_files import FileWatch
from forgeml.core.records import (
    ArtifactRecord,
    EdgeRecord,
    EventRecord,
    JobRecord,
    MetricRecord,
    ResourceRecord,
)
from forgeml.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    NotFoundError,
    ValidationError,
)

_JOB_FIELDS = {c.name for c in t.jobs.columns}
_MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)


def script_heads() -> set[str]:
    """Head revisions of the migration scripts, read as text (importing Alembic costs ~100 ms).

    Every migration file states ``revision = "..."`` and ``down_revision = ...`` (None, a string
    or a tuple of strings) at module level; a head is a revision nobody names as its parent.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        rev = _REVISION.search(text)
        if rev is None:
            continue
        revisions.add(rev.group(1))
        down = _DOWN.search(text)
        if down:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return revisions - parents


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    path = sa.engine.make_url(url).database
    watch = None
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        watch = FileWatch(path, sa.engine.make_url(url).render_as_string(hide_password=True))
    engine = sa.create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        pool_pre_ping=False,
    )

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Let us issue BEGIN ourselves: writers take the lock up front (BEGIN IMMEDIATE) so two
        # writers never deadlock upgrading shared locks, which is what yields "database is locked".
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        if watch is not None:  # WAL mode is on: the WAL and shared-memory files are open now
            watch.opened(record.info)

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if watch is not None:  # never write into files another process removed (see _sqlite_files)
            watch.verify(conn.connection.info)
        mode = "DEFERRED" if conn.get_execution_options().get("forgeml_read") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _resource(row: Row[Any]) -> ResourceRecord:
    m = row._mapping
    return ResourceRecord(
        kind=m["kind"], name=m["name"], version=m["version"], status=m["status"],
        spec=m["spec"], data=m["data"], tags=m["tags"],
        created_at=m["created_at"], updated_at=m["updated_at"],
    )  # fmt: skip


def _job(row: Row[Any]) -> JobRecord:
    m = dict(row._mapping)
    m["resumable"] = bool(m["resumable"])
    return JobRecord(**m)


def _event(row: Row[Any]) -> EventRecord:
    m = row._mapping
    return EventRecord(id=m["id"], time=m["time"], resource=m["resource"], type=m["type"], data=m["data"])


class SqlMetadataStore(MetadataStore):
    """Metadata in any SQLAlchemy database; tested on SQLite and PostgreSQL.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///.forgeml/forgeml.db`` or
            ``postgresql+psycopg://user@127.0.0.1:5432/db``.
        busy_timeout_ms: how long a SQLite writer waits for another writer.
        migrate: bring the schema to the newest migration on open.

    Raises:
        BackendUnavailableError: when the database cannot be reached.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 60_000, migrate: bool = True) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        self.url = url
        try:
            backend = sa.engine.make_url(url).get_backend_name()
        except sa.exc.ArgumentError:
            raise ValidationError(f"invalid database URL {url!r}") from None
        self.dialect = backend
        if backend == "sqlite":
            self._engine = _sqlite_engine(url, busy_timeout_ms)
        else:
            self._engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        if migrate:
            self.migrate()

    # plumbing --------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise BackendUnavailableError(f"metadata store {self._safe_url}: {exc.orig}") from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect().execution_options(forgeml_read=True) as conn, conn.begin():
                yield conn
        except sa.exc.OperationalError as exc:
            raise BackendUnavailableError(f"metadata store {self._safe_url}: {exc.orig}") from None

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction for domain stores keeping tables of their own in this database.

        On SQLite it begins ``BEGIN IMMEDIATE``, so writers queue for the lock instead of failing
        with "database is locked"; connection errors become ``BackendUnavailableError``.
        """
        return self._write()

    def read_transaction(self) -> AbstractContextManager[Connection]:
        """A read-only transaction (deferred on SQLite), for domain stores."""
        return self._read()

    @property
    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Upgrade the schema to every head; safe when many processes open the store at once."""
        try:
            with self._read() as conn:
                current = {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
        except (sa.exc.DBAPIError, BackendUnavailableError):
            current = set()
        if current and current == script_heads():
            return  # up to date: no need to import Alembic
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        with self._read() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        if current == heads:
            return
        with self._write() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(46817)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")

    def close(self) -> None:
        self._engine.dispose()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the connections inherited from the parent without closing them.
        Closing them would end the parent's PostgreSQL sessions (the server sees a Terminate)."""
        self._engine.dispose(close=False)

    @staticmethod
    def _emit(conn: Connection, resource: str, type_: str, data: dict[str, Any]) -> EventRecord:
        now = time.time()
        result = conn.execute(t.events.insert().values(time=now, resource=resource, type=type_, data=data))
        return EventRecord(id=int(result.inserted_primary_key[0]), time=now, resource=resource, type=type_, data=data)  # type: ignore[index]

    # resources -------------------------------------------------------------------------------
    def create_resource(
        self, record: ResourceRecord, *, next_version: bool = False, within: Callable[[Any, ResourceRecord], None] | None = None
    ) -> ResourceRecord:
        now = time.time()
        with self._write() as conn:
            version = record.version
            if next_version:
                latest = conn.execute(
                    sa.select(sa.func.max(t.resources.c.version)).where(
                        t.resources.c.kind == record.kind, t.resources.c.name == record.name
                    )
                ).scalar()
                version = int(latest or 0) + 1
            exists = conn.execute(
                sa.select(t.resources.c.id).where(
                    t.resources.c.kind == record.kind,
                    t.resources.c.name == record.name,
                    t.resources.c.version == version,
                )
            ).first()
            if exists:
                raise AlreadyExistsError(f"{record.kind} {record.name!r} version {version} already exists")
            new = ResourceRecord(
                kind=record.kind, name=record.name, version=version, status=record.status,
                spec=record.spec, data=record.data, tags=record.tags, created_at=now, updated_at=now,
            )  # fmt: skip
            conn.execute(
                t.resources.insert().values(
                    kind=new.kind, name=new.name, version=new.version, status=new.status,
                    spec=new.spec, data=new.data, tags=new.tags, created_at=now, updated_at=now,
                )
            )
            if within is not None:
                within(conn, new)
            self._emit(conn, new.ref, "Created", {"status": new.status})
        return new

    def _resource_row(self, conn: Connection, kind: str, name: str, version: int | None) -> Row[Any]:
        r = t.resources
        q = sa.select(r).where(r.c.kind == kind, r.c.name == name, r.c.status != RETIRED)
        q = q.where(r.c.version == version) if version is not None else q.order_by(r.c.version.desc()).limit(1)
        row = conn.execute(q).first()
        if row is None:
            what = f"{kind} {name!r}" + (f" version {version}" if version is not None else "")
            retired = sa.select(r.c.id).where(r.c.kind == kind, r.c.name == name, r.c.status == RETIRED)
            if version is not None and conn.execute(retired.where(r.c.version == version)).first() is not None:
                raise NotFoundError(f"{what} was deleted")
            raise NotFoundError(f"{what} does not exist")
        return row

    def get_resource(self, kind: str, name: str, version: int | None = None) -> ResourceRecord:
        with self._read() as conn:
            return _resource(self._resource_row(conn, kind, name, version))

    def list_resources(
        self,
        kind: str,
        *,
        name: str | None = None,
        status: str | None = None,
        latest_only: bool = False,
        limit: int | None = None,
    ) -> list[ResourceRecord]:
        r = t.resources
        q = sa.select(r).where(r.c.kind == kind)
        if name is not None:
            q = q.where(r.c.name == name)
        q = q.where(r.c.status == status) if status is not None else q.where(r.c.status != RETIRED)
        if latest_only:
            latest = (
                sa.select(r.c.name, sa.func.max(r.c.version).label("v"))
                .where(r.c.kind == kind, r.c.status != RETIRED)
                .group_by(r.c.name)
                .subquery()
            )
            q = q.join(latest, sa.and_(r.c.name == latest.c.name, r.c.version == latest.c.v))
        q = q.order_by(r.c.created_at.desc(), r.c.version.desc())
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [_resource(row) for row in conn.execute(q)]

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
        with self._write() as conn:
            current = _resource(self._resource_row(conn, kind, name, version))
            if expected_status is not None and current.status not in expected_status:
                raise ConflictError(
                    f"{kind} {name!r} version {version} is {current.status}, expected {' or '.join(expected_status)}"
                )
            values: dict[str, Any] = {"updated_at": time.time()}
            if status is not None:
                values["status"] = status
            if data is not None:
                values["data"] = {**current.data, **data}
            if tags is not None:
                values["tags"] = {**current.tags, **tags}
            r = t.resources
            conn.execute(
                r.update()
                .where(r.c.kind == kind, r.c.name == name, r.c.version == version)
                .values(**values)
            )
            if status is not None and status != current.status:
                self._emit(conn, current.ref, "StatusChanged", {"from": current.status, "to": status})
            elif data is not None or tags is not None:
                self._emit(conn, current.ref, "Updated", {"fields": sorted((data or {}).keys() | (tags or {}).keys())})
            return _resource(self._resource_row(conn, kind, name, version))

    def delete_resource(self, kind: str, name: str, version: int | None = None) -> int:
        r = t.resources
        q = r.delete().where(r.c.kind == kind, r.c.name == name)
        if version is not None:
            q = q.where(r.c.version == version)
        with self._write() as conn:
            count = conn.execute(q).rowcount
            if count:
                ref = f"{kind}/{name}" + (f":{version}" if version is not None else "")
                self._emit(conn, ref, "Deleted", {"versions": count})
            return int(count)

    def retire_resource(self, kind: str, name: str, version: int, *, data: dict[str, Any] | None = None) -> ResourceRecord:
        r = t.resources
        with self._write() as conn:
            current = _resource(self._resource_row(conn, kind, name, version))
            conn.execute(
                r.update()
                .where(r.c.kind == kind, r.c.name == name, r.c.version == version)
                .values(status=RETIRED, data={**current.data, **(data or {})}, updated_at=time.time())
            )
            owned = [row.digest for row in conn.execute(sa.select(t.artifact_refs.c.digest).where(t.artifact_refs.c.owner == current.ref))]
            conn.execute(t.artifact_refs.delete().where(t.artifact_refs.c.owner == current.ref))
            if owned:  # its storage edges go too, so garbage collection can reclaim the bytes
                nodes = [f"artifact/{d}" for d in owned]
                e = t.edges
                conn.execute(e.delete().where(sa.or_(sa.and_(e.c.dst == current.ref, e.c.src.in_(nodes)),
                                                     sa.and_(e.c.src == current.ref, e.c.dst.in_(nodes)))))  # fmt: skip
            self._emit(conn, current.ref, "Deleted", {"from": current.status, "released_artifacts": owned, **(data or {})})
            row = conn.execute(sa.select(r).where(r.c.kind == kind, r.c.name == name, r.c.version == version)).one()
            return _resource(row)

    # jobs ------------------------------------------------------------------------------------
    def create_job(self, record: JobRecord) -> JobRecord:
        now = time.time()
        values = {**record.__dict__, "created_at": now, "updated_at": now}
        with self._write() as conn:
            if conn.execute(sa.select(t.jobs.c.name).where(t.jobs.c.name == record.name)).first():
                raise AlreadyExistsError(f"job {record.name!r} already exists")
            conn.execute(t.jobs.insert().values(**values))
            self._emit(conn, record.ref, "Created", {"status": record.status, "kind": record.kind})
        return JobRecord(**values)

    def get_job(self, name: str) -> JobRecord:
        with self._read() as conn:
            row = conn.execute(sa.select(t.jobs).where(t.jobs.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"job {name!r} does not exist")
        return _job(row)

    def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: Sequence[str] | None = None,
        name_contains: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JobRecord]:
        j = t.jobs
        q = sa.select(j)
        if kind is not None:
            q = q.where(j.c.kind == kind)
        if status:
            q = q.where(j.c.status.in_(list(status)))
        if name_contains:
            q = q.where(j.c.name.contains(name_contains, autoescape=True))
        q = q.order_by(j.c.created_at.desc(), j.c.name).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [_job(row) for row in conn.execute(q)]

    def update_job(
        self,
        name: str,
        *,
        expected_status: Sequence[str] | None = None,
        handle_update: dict[str, Any] | None = None,
        add_refs: dict[str, Sequence[str]] | None = None,
        **changes: Any,
    ) -> JobRecord:
        unknown = set(changes) - _JOB_FIELDS
        if unknown:
            raise ValidationError(f"unknown job field(s): {', '.join(sorted(unknown))}")
        j = t.jobs
        with self._write() as conn:
            row = conn.execute(sa.select(j).where(j.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"job {name!r} does not exist")
            current = _job(row)
            if expected_status is not None and current.status not in expected_status:
                raise ConflictError(
                    f"job {name!r} is {current.status}, expected {' or '.join(expected_status)}"
                )
            values = {**changes, "updated_at": time.time()}
            if handle_update:
                values["handle"] = {**current.handle, **handle_update}
            for field, refs in (add_refs or {}).items():
                if field not in ("inputs", "outputs"):
                    raise ValidationError(f"add_refs: unknown job field {field!r} (expected inputs or outputs)")
                existing = list(getattr(current, field))
                values[field] = existing + [r for r in dict.fromkeys(refs) if r not in existing]
            conn.execute(j.update().where(j.c.name == name).values(**values))
            new_status = changes.get("status")
            if new_status is not None and new_status != current.status:
                data = {"from": current.status, "to": new_status}
                if changes.get("failure_reason"):
                    data["reason"] = changes["failure_reason"]
                self._emit(conn, current.ref, "StatusChanged", data)
            elif "secondary_status" in changes and changes["secondary_status"] != current.secondary_status:
                self._emit(conn, current.ref, "SecondaryStatusChanged", {"to": changes["secondary_status"]})
            return JobRecord(**{**current.__dict__, **values})

    # events ----------------------------------------------------------------------------------
    def append_event(self, resource: str, type: str, data: dict[str, Any] | None = None) -> EventRecord:
        with self._write() as conn:
            return self._emit(conn, resource, type, data or {})

    def list_events(
        self,
        *,
        resource: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        newest: bool = False,
        since: float | None = None,
    ) -> list[EventRecord]:
        e = t.events
        q = sa.select(e).where(e.c.id > after_id)
        if resource is not None:
            q = q.where(sa.or_(e.c.resource == resource, e.c.resource.startswith(resource + ":", autoescape=True)))
        if since is not None:
            q = q.where(e.c.time >= since)
        q = q.order_by(e.c.id.desc() if newest else e.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            found = [_event(row) for row in conn.execute(q)]
        return found[::-1] if newest else found

    # artifacts -------------------------------------------------------------------------------
    def put_artifact(self, record: ArtifactRecord, owner: str | None = None) -> ArtifactRecord:
        a = t.artifacts
        with self._write() as conn:
            row = conn.execute(sa.select(a).where(a.c.digest == record.digest)).first()
            if row is None:
                record = ArtifactRecord(record.digest, record.size, record.media_type, time.time())
                conn.execute(a.insert().values(**record.__dict__))
            else:
                record = ArtifactRecord(**row._mapping)
            if owner is not None:
                ref = t.artifact_refs
                have = conn.execute(
                    sa.select(ref.c.digest).where(ref.c.digest == record.digest, ref.c.owner == owner)
                ).first()
                if have is None:
                    conn.execute(ref.insert().values(digest=record.digest, owner=owner))
        return record

    def get_artifact(self, digest: str) -> ArtifactRecord:
        with self._read() as conn:
            row = conn.execute(sa.select(t.artifacts).where(t.artifacts.c.digest == digest)).first()
        if row is None:
            raise NotFoundError(f"artifact {digest} does not exist")
        return ArtifactRecord(**row._mapping)

    def list_artifacts(self, *, unreferenced_only: bool = False) -> list[ArtifactRecord]:
        a = t.artifacts
        q = sa.select(a).order_by(a.c.created_at)
        if unreferenced_only:
            ref_node = sa.literal("artifact/") + a.c.digest
            q = q.where(
                ~sa.exists().where(t.artifact_refs.c.digest == a.c.digest),
                ~sa.exists().where(sa.or_(t.edges.c.src == ref_node, t.edges.c.dst == ref_node)),
            )
        with self._read() as conn:
            return [ArtifactRecord(**row._mapping) for row in conn.execute(q)]

    def find_artifacts(self, prefix: str, *, limit: int = 10) -> list[ArtifactRecord]:
        a = t.artifacts
        q = sa.select(a).where(a.c.digest.startswith(prefix, autoescape=True)).order_by(a.c.digest).limit(limit)
        with self._read() as conn:
            return [ArtifactRecord(**row._mapping) for row in conn.execute(q)]

    def delete_artifact(self, digest: str) -> None:
        with self._write() as conn:
            conn.execute(t.artifact_refs.delete().where(t.artifact_refs.c.digest == digest))
            conn.execute(t.artifacts.delete().where(t.artifacts.c.digest == digest))

    def remove_refs(self, owner: str) -> int:
        with self._write() as conn:
            return int(conn.execute(t.artifact_refs.delete().where(t.artifact_refs.c.owner == owner)).rowcount)

    # lineage ---------------------------------------------------------------------------------
    def add_edges(self, edges: Iterable[EdgeRecord]) -> None:
        e = t.edges
        now = time.time()
        with self._write() as conn:
            for edge in edges:
                have = conn.execute(
                    sa.select(e.c.src).where(e.c.src == edge.src, e.c.dst == edge.dst, e.c.relation == edge.relation)
                ).first()
                if have is None:
                    conn.execute(
                        e.insert().values(src=edge.src, dst=edge.dst, relation=edge.relation, job=edge.job, created_at=now)
                    )

    def list_edges(self, *, src: str | None = None, dst: str | None = None) -> list[EdgeRecord]:
        e = t.edges
        q = sa.select(e)
        if src is not None:
            q = q.where(e.c.src == src)
        if dst is not None:
            q = q.where(e.c.dst == dst)
        with self._read() as conn:
            return [EdgeRecord(**row._mapping) for row in conn.execute(q.order_by(e.c.created_at, e.c.src))]

    def lineage_nodes(self, prefix: str) -> list[str]:
        e = t.edges
        src = sa.select(e.c.src.label("ref")).where(e.c.src.startswith(prefix, autoescape=True))
        dst = sa.select(e.c.dst.label("ref")).where(e.c.dst.startswith(prefix, autoescape=True))
        with self._read() as conn:
            return sorted({row[0] for row in conn.execute(sa.union(src, dst))})

    # metrics ---------------------------------------------------------------------------------
    def log_metrics(self, owner: str, points: Iterable[tuple[str, float, int, float]]) -> None:
        rows = [
            {"owner": owner, "key": k, "value": float(v), "step": int(s), "timestamp": float(ts)}
            for k, v, s, ts in points
        ]
        if not rows:
            return
        with self._write() as conn:
            conn.execute(t.metrics.insert(), rows)

    def get_metrics(self, owner: str, key: str | None = None) -> list[MetricRecord]:
        m = t.metrics
        q = sa.select(m.c.owner, m.c.key, m.c.value, m.c.step, m.c.timestamp).where(m.c.owner == owner)
        if key is not None:
            q = q.where(m.c.key == key)
        with self._read() as conn:
            return [MetricRecord(**row._mapping) for row in conn.execute(q.order_by(m.c.key, m.c.step, m.c.id))]

    def latest_metrics(
        self, owners: Sequence[str] | None = None, key: str | None = None
    ) -> dict[str, dict[str, float]]:
        m = t.metrics
        last = sa.select(sa.func.max(m.c.id).label("id")).group_by(m.c.owner, m.c.key)
        if owners is not None:
            last = last.where(m.c.owner.in_(list(owners)))
        if key is not None:
            last = last.where(m.c.key == key)
        q = sa.select(m.c.owner, m.c.key, m.c.value).where(m.c.id.in_(last.scalar_subquery()))
        out: dict[str, dict[str, float]] = {}
        with self._read() as conn:
            for owner, k, value in conn.execute(q):
                out.setdefault(owner, {})[k] = value
        return out
