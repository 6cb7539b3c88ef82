"""The audit trail (issue 14, item 3): every authenticated call and every denial recorded with
its principal, action, resource, source, outcome and request id; hash-chained, so `forgeml audit
verify` names an edited, deleted or reordered record."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.security import AuditLog, PrincipalStore
from forgeml.security._audit import head, log
from forgeml.security._principals import sql_store
from forgeml.settings import Settings
from tests.cli_runner import run_cli


def _trail(ws: Workspace, n: int = 5) -> AuditLog:
    audit = AuditLog(ws)
    for i in range(n):
        audit.append(principal=f"p{i % 2}", action="datasets:Read", resource=f"dataset/d{i}", source="10.0.0.1",
                     outcome="Allowed", request_id=f"r{i}")  # fmt: skip
    assert audit.verify() == []
    return audit


def sql_tx(ws: Workspace) -> AbstractContextManager[Connection]:
    return sql_store(ws).transaction()


def _update(ws: Workspace, statement: sa.Executable) -> None:
    with sql_tx(ws) as conn:
        conn.execute(statement)


def test_an_edited_record_is_named(ws: Workspace) -> None:
    audit = _trail(ws)
    _update(ws, log.update().where(log.c.id == 3).values(outcome="Denied"))
    assert audit.verify() == ["record 3: edited (its content does not match its hash)"]


def test_a_deleted_record_is_named(ws: Workspace) -> None:
    audit = _trail(ws)
    _update(ws, log.delete().where(log.c.id == 2))
    assert audit.verify() == ["record 3: the record(s) 2..2 before it were deleted"]


def test_a_record_cut_from_the_end_is_named(ws: Workspace) -> None:
    audit = _trail(ws)
    _update(ws, log.delete().where(log.c.id == 5))
    assert audit.verify() == ["record 5: deleted from the end (the trail ends at record 4)"]


def test_reordered_records_are_named(ws: Workspace) -> None:
    audit = _trail(ws)
    with sql_tx(ws) as conn:
        rows = {r.id: dict(r._mapping) for r in conn.execute(sa.select(log).where(log.c.id.in_([2, 3])))}
        for src, dst in ((2, 3), (3, 2)):
            values = {k: v for k, v in rows[src].items() if k != "id"}
            conn.execute(log.update().where(log.c.id == dst).values(**values))
    problems = audit.verify()
    assert problems[0].startswith("record 2: ")  # the moved record no longer hashes as record 2
    assert any(p.startswith("record 3: ") for p in problems)


def test_a_rewritten_head_is_caught(ws: Workspace) -> None:
    audit = _trail(ws)
    _update(ws, head.update().values(count=9))
    assert audit.verify() == ["4 record(s) deleted (the head counts 9, the trail holds 5)"]


def test_calls_and_denials_are_audited_and_listed_by_the_cli(settings: Settings, tmp_path: Path) -> None:
    ws = Workspace(settings.model_copy(update={"security_enabled": True}))
    store = PrincipalStore(ws)
    store.create_principal("ds", policies=["DataScientist"])
    cred = store.create_key("ds").credential
    with TestClient(create_app(ws)) as client:
        assert client.get("/datasets", headers={"X-Forgeml-Key": cred, "X-Request-Id": "req-1"}).status_code == 200
        approve = "/model-package-groups/loans/versions/2/approval"
        assert client.post(approve, json={"status": "Approved"}, headers={"X-Forgeml-Key": cred, "X-Request-Id": "req-2"}).status_code == 403
        assert client.get("/jobs", headers={"X-Request-Id": "bad id with spaces"}).status_code == 401
    ws.close()
    home = settings.resolved_home
    listed = json.loads(run_cli(home, "audit", "ls", "--json").stdout)
    assert [(r["principal"], r["action"], r["resource"], r["outcome"]) for r in listed] == [
        ("ds", "datasets:List", "dataset/*", "Allowed"),
        ("ds", "models:Approve", "model/loans:2", "Denied"),
        ("anonymous", "jobs:List", "job/*", "Unauthenticated"),
    ]
    assert [r["request_id"] for r in listed[:2]] == ["req-1", "req-2"]
    assert len(listed[2]["request_id"]) == 32  # a malformed X-Request-Id is replaced, not stored
    assert all(r["source"] == "testclient" for r in listed)
    only = json.loads(run_cli(home, "audit", "ls", "--principal", "ds", "--action", "models:Approve", "--since", "1h", "--json").stdout)
    assert [r["request_id"] for r in only] == ["req-2"]
    assert json.loads(run_cli(home, "audit", "ls", "--since", "2999-01-01", "--json").stdout) == []
    ok = run_cli(home, "audit", "verify")
    assert ok.returncode == 0 and "audit trail intact (3 records)" in ok.stdout
    reopened = Workspace(settings)
    _update(reopened, log.update().where(log.c.id == 2).values(outcome="Allowed"))
    reopened.close()
    broken = run_cli(home, "audit", "verify", "--json")
    assert broken.returncode == 10
    assert json.loads(broken.stdout)["problems"] == ["record 2: edited (its content does not match its hash)"]


def test_a_bad_since_is_one_clear_line(ws: Workspace) -> None:
    done = run_cli(ws.home, "audit", "ls", "--since", "yesterday")
    assert done.returncode != 0 and "--since: 'yesterday' is neither a duration" in done.stderr


def _append_from_threads(ws: Workspace, threads: int = 4, each: int = 15) -> AuditLog:
    import threading

    audit = AuditLog(ws)

    def work(t: int) -> None:
        for i in range(each):
            audit.append(principal=f"t{t}", action="jobs:Read", resource="job/j", source="::1", outcome="Allowed", request_id=f"{t}-{i}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return audit


def test_concurrent_appends_keep_one_chain(ws: Workspace) -> None:
    audit = _append_from_threads(ws)
    assert len(audit.records()) == 60
    assert audit.verify() == []


def test_the_chain_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    from forgeml.settings import load_settings

    ws = Workspace(load_settings(home=str(tmp_path / "ws"), database_url=postgres_url))
    try:
        audit = _append_from_threads(ws, threads=3, each=5)
        assert [r.id for r in audit.records()] == list(range(1, 16))
        assert audit.verify() == []
        with sql_tx(ws) as conn:
            conn.execute(log.update().where(log.c.id == 7).values(resource="job/other"))
        assert audit.verify() == ["record 7: edited (its content does not match its hash)"]
    finally:
        ws.close()
