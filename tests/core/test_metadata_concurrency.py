"""Eight processes writing to one metadata store at once must never see "database is locked"."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from forgeml.core.metadata import SqlMetadataStore
from forgeml.core.records import JobRecord, ResourceRecord
from forgeml.testing.services import fresh_postgres_database

WRITERS = 8
WRITES = 40


def _writer(url: str, worker: int, barrier: mp.synchronize.Barrier, errors: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        store = SqlMetadataStore(url)  # every process also races the migrations on a fresh store
        barrier.wait(timeout=60)
        for i in range(WRITES):
            name = f"w{worker}-{i}"
            store.create_job(JobRecord(name=name, kind="training", status="Pending", entrypoint="m:f"))
            store.update_job(name, expected_status=["Pending"], status="InProgress")
            store.create_resource(ResourceRecord(kind="dataset", name=f"d{worker}"), next_version=True)
            store.log_metrics(f"job/{name}", [("loss", float(i), i, 0.0)])
        store.close()
    except Exception as exc:
        errors.put(f"{type(exc).__name__}: {exc}")


def _run(url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, w, barrier, errors)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert all(p.exitcode == 0 for p in procs)
    store = SqlMetadataStore(url)
    assert len(store.list_jobs(status=["InProgress"])) == WRITERS * WRITES
    assert len(store.list_resources("dataset")) == WRITERS * WRITES
    assert len(store.latest_metrics()) == WRITERS * WRITES
    # every status change left exactly one event
    assert len(store.list_events()) == WRITERS * WRITES * 3
    store.close()


@pytest.mark.slow
def test_eight_writers_sqlite(tmp_path: Path) -> None:
    _run(f"sqlite:///{tmp_path / 'meta.db'}")


@pytest.mark.slow
def test_eight_writers_postgres() -> None:
    with fresh_postgres_database() as url:
        _run(url)
