"""Principals and API keys (issue 14, item 1): secrets stored only as salted scrypt hashes,
expiry, last use, rotation and revocation, both credential headers, the CLI, and `forgeml server`
turning security on beyond loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from forgeml.security import PrincipalStore
from forgeml.security._enforce import check_can_serve, is_loopback, server_settings
from forgeml.security._principals import keys, sql_store
from forgeml.settings import Settings, load_settings
from tests.cli_runner import run_cli


@pytest.fixture
def secure_ws(settings: Settings) -> Iterator[Workspace]:
    ws = Workspace(settings.model_copy(update={"security_enabled": True}))
    yield ws
    ws.close()


def test_the_secret_is_stored_only_as_a_salted_scrypt_hash(ws: Workspace) -> None:
    store = PrincipalStore(ws)
    store.create_principal("ana", policies=["ReadOnly"])
    one, two = store.create_key("ana"), store.create_key("ana")
    with sql_store(ws).read_transaction() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(keys))]
    dump = json.dumps(rows)
    assert one.secret not in dump and two.secret not in dump
    assert rows[0]["salt"] != rows[1]["salt"] and len(rows[0]["hash"]) == 64
    assert store.authenticate(one.credential).name == "ana"


def test_bad_credentials_are_refused(ws: Workspace) -> None:
    store = PrincipalStore(ws)
    store.create_principal("ana")
    made = store.create_key("ana")
    for bad, message in [
        ("nonsense", "not 'ACCESS_KEY_ID:SECRET'"),
        (f"{made.key.key_id}:wrong", "the secret does not match"),
        ("FKIAAAAAAAAAAAAAAAAA:x", "is not known"),
    ]:
        with pytest.raises(UnauthenticatedError, match=message):
            store.authenticate(bad)


def test_expiry_revocation_rotation_and_last_use(ws: Workspace) -> None:
    store = PrincipalStore(ws)
    store.create_principal("svc", type="service", policies=["MLOps"])
    old = store.create_key("svc")
    assert store.list_keys("svc")[0].last_used_at is None
    store.authenticate(old.credential)
    assert store.list_keys("svc")[0].last_used_at is not None
    new = store.create_key("svc")
    with pytest.raises(ConflictError, match="holds 2 live keys already; revoke one first"):
        store.create_key("svc")
    store.revoke(old.key.key_id)
    with pytest.raises(UnauthenticatedError, match="is revoked"):
        store.authenticate(old.credential, cache_seconds=60)  # a cached secret does not outlive revocation
    assert store.authenticate(new.credential).name == "svc"
    short = store.create_key("svc", expires_in_days=1)
    with sql_store(ws).transaction() as conn:
        conn.execute(keys.update().where(keys.c.key_id == short.key.key_id).values(expires_at=time.time() - 1))
    with pytest.raises(UnauthenticatedError, match="expired"):
        store.authenticate(short.credential)
    with pytest.raises(NotFoundError, match="no access key"):
        store.revoke("FKIAAAAAAAAAAAAAAAAA")


def test_principal_input_is_checked(ws: Workspace) -> None:
    store = PrincipalStore(ws)
    with pytest.raises(ValidationError, match="principal name"):
        store.create_principal("bad name")
    with pytest.raises(NotFoundError, match="no policy 'Nope'"):
        store.create_principal("ana", policies=["Nope"])
    with pytest.raises(NotFoundError, match="no principal 'ghost'"):
        store.create_key("ghost")


def test_both_headers_and_401_over_http(secure_ws: Workspace) -> None:
    store = PrincipalStore(secure_ws)
    store.create_principal("ana", policies=["ReadOnly"])
    cred = store.create_key("ana").credential
    with TestClient(create_app(secure_ws)) as client:
        assert client.get("/datasets").status_code == 401
        assert client.get("/datasets", headers={"Authorization": f"Bearer {cred}"}).status_code == 200
        assert client.get("/datasets", headers={"X-Forgeml-Key": cred}).status_code == 200
        denied = client.post("/experiments", json={"name": "e"}, headers={"X-Forgeml-Key": cred})
        assert denied.status_code == 403
        assert denied.json()["message"].startswith("ana may not experiments:Create on experiment/*")
        assert client.get("/datasets", headers={"X-Forgeml-Key": cred + "x"}).status_code == 401


def test_security_off_needs_no_key(ws: Workspace) -> None:
    with TestClient(create_app(ws)) as client:
        assert client.get("/datasets").status_code == 200


def test_server_turns_security_on_beyond_loopback(ws: Workspace, settings: Settings) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("example.org")
    assert server_settings(settings).security_enabled is False
    public = server_settings(settings.model_copy(update={"host": "0.0.0.0"}))
    assert public.security_enabled is True
    exposed = Workspace(public)
    with pytest.raises(ForbiddenError, match=r"refusing to serve on 0\.0\.0\.0: security is on beyond loopback and no API key exists"):
        check_can_serve(exposed)
    PrincipalStore(exposed).create_principal("root", policies=["Admin"])
    PrincipalStore(exposed).create_key("root")
    check_can_serve(exposed)
    exposed.close()


def test_server_command_refuses_a_public_address_without_a_key(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "ws", "server", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode != 0
    assert "refusing to serve on 0.0.0.0" in done.stderr


def test_auth_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    monkeypatch.delenv("FORGEML_API_KEY", raising=False)
    made = run_cli(home, "auth", "create-user", "ana", "--policy", "DataScientist", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["policies"] == ["DataScientist"]
    key = json.loads(run_cli(home, "auth", "create-key", "ana", "--expires-in-days", "30", "--json").stdout)
    assert key["credential"] == f"{key['key_id']}:{key['secret']}" and key["expires_at"] > time.time()
    who = json.loads(run_cli(home, "auth", "whoami", "--key", key["credential"], "--json").stdout)
    assert (who["principal"], who["type"], who["key_id"]) == ("ana", "user", key["key_id"])
    assert json.loads(run_cli(home, "auth", "whoami", "--json").stdout)["principal"] == "owner"
    listed = json.loads(run_cli(home, "auth", "keys", "ana", "--json").stdout)
    assert [k["key_id"] for k in listed] == [key["key_id"]] and "secret" not in listed[0]
    allowed = run_cli(home, "auth", "simulate", "ana", "models:Register", "model/loans", "--json")
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["decision"] == "Allow"
    denied = run_cli(home, "auth", "simulate", "ana", "models:Approve", "model/loans:1")
    assert denied.returncode == 3
    assert "Deny: ana models:Approve on model/loans:1: no statement allows models:Approve on model/loans:1 (implicit deny)" in denied.stdout
    policy = tmp_path / "no-prod.yaml"
    policy.write_text("Statement:\n  - Sid: NoProd\n    Effect: Deny\n    Action: 'datasets:*'\n    Resource: dataset/prod*\n")
    assert run_cli(home, "auth", "put-policy", "NoProd", str(policy)).returncode == 0
    assert run_cli(home, "auth", "attach-policy", "ana", "NoProd").returncode == 0
    explained = json.loads(run_cli(home, "auth", "simulate", "ana", "datasets:Write", "dataset/prod-loans", "--json").stdout)
    assert explained["decision"] == "Deny" and explained["matched"] == ["NoProd:NoProd"]
    revoked = run_cli(home, "auth", "revoke", key["key_id"], "--json")
    assert json.loads(revoked.stdout)["status"] == "Revoked"
    gone = run_cli(home, "auth", "whoami", "--key", key["credential"])
    assert gone.returncode == 11 and f"access key {key['key_id']} is revoked" in gone.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}')
    refused = run_cli(home, "auth", "put-policy", "Bad", str(bad))
    assert refused.returncode != 0 and "Bad: Statement[0].Effect: 'Maybe' is not 'Allow' or 'Deny'" in refused.stderr
    assert load_settings(home=str(home)).security_enabled is False
