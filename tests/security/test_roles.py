"""Groups, roles and role sessions (issue 14, item 2): policies attach to users, groups and roles;
a trust policy says who may assume a role; temporary credentials expire; IAM's evaluation is
unchanged (default deny, explicit deny wins). Hand-written cases."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError
from forgeml.security import AuditLog, PolicyStore, PrincipalStore, evaluate
from forgeml.security._principals import sql_store
from forgeml.security._roles import RoleStore, identity_policies, sessions
from forgeml.settings import Settings
from tests.cli_runner import run_cli

ASSUME = "sts:AssumeRole"


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow_from(who: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": who, "Action": ASSUME, **extra}


@pytest.fixture
def stores(ws: Workspace) -> tuple[PrincipalStore, RoleStore, PolicyStore]:
    return PrincipalStore(ws), RoleStore(ws), PolicyStore(ws)


def decide(ws: Workspace, name: str, action: str, resource: str) -> bool:
    p = PrincipalStore(ws).get_principal(name)
    return evaluate(identity_policies(ws, p), action, resource).allowed


def test_group_policies_add_to_a_members_own(ws: Workspace, stores: Any) -> None:
    principals, roles, policies = stores
    principals.create_principal("ana", policies=["ReadOnly"])
    principals.create_principal("bo", policies=["ReadOnly"])
    roles.create_group("approvers", ["MLOps"])
    roles.add_member("approvers", "ana")
    assert decide(ws, "ana", "models:Approve", "model/loans:3")
    assert not decide(ws, "bo", "models:Approve", "model/loans:3")  # not a member: implicit deny
    assert decide(ws, "bo", "models:Read", "model/loans:3")
    # the decision names the group the allowing statement came from
    p = principals.get_principal("ana")
    decision = evaluate(identity_policies(ws, p), "models:Approve", "model/loans:3")
    assert decision.matched == ["group/approvers/MLOps:Statement[0]"]
    # an explicit deny in a group wins over the member's own allow
    policies.put("NoDeletes", {"Statement": [{"Effect": "Deny", "Action": "*:Delete", "Resource": "*"}]})
    principals.attach("bo", "Admin")
    assert decide(ws, "bo", "datasets:Delete", "dataset/loans:1")
    roles.create_group("careful", ["NoDeletes"])
    roles.add_member("careful", "bo")
    assert not decide(ws, "bo", "datasets:Delete", "dataset/loans:1")
    assert decide(ws, "bo", "datasets:Write", "dataset/loans")
    roles.remove_member("careful", "bo")
    assert decide(ws, "bo", "datasets:Delete", "dataset/loans:1")
    assert [g.name for g in roles.groups_of("ana")] == ["approvers"]
    assert roles.get_group("approvers").members == ["ana"]


@pytest.mark.parametrize(("case", "statements", "identity", "caller", "allowed", "why"), [
    ("named directly: trust alone grants", [allow_from({"ForgeML": "ana"})], [], "ana", True, "names ana"),
    ("named in a list", [allow_from({"ForgeML": ["bo", "ana"]})], [], "ana", True, "names ana"),
    ("not named: refused", [allow_from({"ForgeML": "bo"})], [], "ana", False, "does not trust ana"),
    ("workspace-wide trust needs an identity allow", [allow_from("*")], [], "ana", False, "do not allow sts:AssumeRole"),
    ("workspace-wide trust plus identity allow", [allow_from("*")], ["AssumeAny"], "ana", True, "trusts the workspace"),
    ("trust deny wins over a trust allow", [allow_from({"ForgeML": "ana"}), {"Effect": "Deny", "Principal": "*", "Action": "sts:*"}],
     [], "ana", False, "explicitly denied by the trust policy"),
    ("identity deny wins over a trust that names the caller", [allow_from({"ForgeML": "ana"})], ["DenyAssume"], "ana", False,
     "explicitly denied by DenyAssume"),
    ("a trust statement for another action grants nothing", [{"Effect": "Allow", "Principal": "*", "Action": "sts:TagSession"}],
     ["AssumeAny"], "ana", False, "does not trust ana"),
    ("a condition on the source address", [allow_from({"ForgeML": "ana"}, Condition={"IpAddress": {"forgeml:SourceIp": "10.0.0.0/8"}})],
     [], "ana", False, "does not trust ana"),
])  # fmt: skip
def test_trust_policy_cases(
    ws: Workspace, stores: Any, case: str, statements: list[dict[str, Any]], identity: list[str], caller: str, allowed: bool, why: str
) -> None:
    principals, roles, policies = stores
    policies.put("AssumeAny", {"Statement": [{"Effect": "Allow", "Action": ASSUME, "Resource": "role/*"}]})
    policies.put("DenyAssume", {"Statement": [{"Effect": "Deny", "Action": ASSUME, "Resource": "*"}]})
    principals.create_principal(caller, policies=identity)
    role = roles.create_role("deployer", trust(*statements), ["MLOps"])
    ok, reason = roles.trust_decision(principals.get_principal(caller), role, {"forgeml:SourceIp": "127.0.0.1"})
    assert (ok, why in reason) == (allowed, True), reason


def test_a_session_acts_with_the_roles_policies_until_it_expires(ws: Workspace, stores: Any) -> None:
    principals, roles, _ = stores
    principals.create_principal("ana", policies=["DataScientist"])
    roles.create_role("deployer", trust(allow_from({"ForgeML": "ana"})), ["MLOps"])
    ana = principals.get_principal("ana")
    made = roles.assume_role(ana, "deployer", duration_seconds=900)
    assert made.key_id.startswith("FSIA") and made.expires_at - time.time() <= 900
    session = principals.authenticate(made.credential)
    assert (session.name, session.type) == ("assumed-role/deployer/ana", "role")
    named = identity_policies(ws, session)
    assert list(named) == ["role/deployer/MLOps"]
    assert evaluate(named, "models:Approve", "model/loans:1").allowed
    assert not evaluate(named, "datasets:Delete", "dataset/loans:1").allowed  # not the caller's own policies
    assert not evaluate(identity_policies(ws, ana), "models:Approve", "model/loans:1").allowed
    with sql_store(ws).read_transaction() as conn:
        stored = json.dumps([dict(r._mapping) for r in conn.execute(sa.select(sessions))])
    assert made.secret not in stored  # only a scrypt hash is kept
    with pytest.raises(UnauthenticatedError, match="the secret does not match"):
        principals.authenticate(f"{made.key_id}:wrong")
    with sql_store(ws).transaction() as conn:
        conn.execute(sessions.update().where(sessions.c.key_id == made.key_id).values(expires_at=time.time() - 1))
    with pytest.raises(UnauthenticatedError, match="expired"):
        principals.authenticate(made.credential, cache_seconds=60)  # a cached secret does not outlive the session
    with pytest.raises(ForbiddenError, match="role chaining"):
        roles.assume_role(session, "deployer")


def test_bad_roles_and_sessions_are_refused(ws: Workspace, stores: Any) -> None:
    principals, roles, _ = stores
    principals.create_principal("ana")
    for document, message in [
        ({"Statement": [{"Effect": "Allow", "Action": ASSUME}]}, "needs a Principal"),
        ({"Statement": [allow_from({"AWS": "x"})]}, "Principal"),
        ({"Statement": [allow_from("*", Resource="*")]}, "names no Resource"),
        ({"Statement": [allow_from("*", Effect="Maybe")]}, "Effect"),
    ]:
        with pytest.raises(ValidationError, match=message):
            roles.create_role("r", document)
    with pytest.raises(ValidationError, match="max session duration"):
        roles.create_role("r", trust(allow_from("*")), max_session_seconds=60)
    with pytest.raises(NotFoundError, match="no policy 'Nope'"):
        roles.create_role("r", trust(allow_from("*")), ["Nope"])
    roles.create_role("r", trust(allow_from({"ForgeML": "ana"})), max_session_seconds=3600)
    ana = principals.get_principal("ana")
    for duration in (899, 3601):
        with pytest.raises(ValidationError, match="900 s to its max session duration of 3600 s"):
            roles.assume_role(ana, "r", duration_seconds=duration)
    with pytest.raises(ValidationError, match="session name"):
        roles.assume_role(ana, "r", session_name="a b")
    with pytest.raises(NotFoundError, match="no role 'other'"):
        roles.assume_role(ana, "other")


@pytest.fixture
def secure_client(settings: Settings) -> Iterator[tuple[Workspace, TestClient]]:
    ws = Workspace(settings.model_copy(update={"security_enabled": True}))
    with TestClient(create_app(ws)) as client:
        yield ws, client
    ws.close()


def test_the_rest_api_enforces_group_and_role_policies(secure_client: tuple[Workspace, TestClient]) -> None:
    ws, client = secure_client
    principals, roles = PrincipalStore(ws), RoleStore(ws)
    principals.create_principal("ana")
    key = principals.create_key("ana").credential
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/alarms", headers=auth).status_code == 403  # no policy: implicit deny
    roles.create_group("readers", ["ReadOnly"])
    roles.add_member("readers", "ana")
    assert client.get("/alarms", headers=auth).status_code == 200
    roles.create_role("admin", trust(allow_from({"ForgeML": "ana"})), ["Admin"])
    made = roles.assume_role(principals.get_principal("ana"), "admin", session_name="fix-it")
    session = {"Authorization": f"Bearer {made.credential}"}
    assert client.post("/experiments", json={"name": "e1"}, headers=session).status_code in (200, 201)
    assert client.post("/experiments", json={"name": "e2"}, headers=auth).status_code == 403
    with sql_store(ws).transaction() as conn:
        conn.execute(sessions.update().where(sessions.c.key_id == made.key_id).values(expires_at=time.time() - 1))
    assert client.get("/alarms", headers=session).status_code == 401
    trail = [(r.principal, r.outcome) for r in AuditLog(ws).records(action="experiments:Create")]
    assert trail == [("assumed-role/admin/fix-it", "Allowed"), ("ana", "Denied")]


def test_the_cli_makes_groups_roles_and_assumes(settings: Settings, tmp_path: Path) -> None:
    home = settings.resolved_home
    out = run_cli(home, *["auth", "create-user", "ana", "--policy", "ReadOnly"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert run_cli(home, *["auth", "create-group", "ops", "--policy", "MLOps"]).returncode == 0
    assert run_cli(home, *["auth", "add-to-group", "ops", "ana"]).returncode == 0
    listed = json.loads(run_cli(home, *["auth", "groups", "--json"]).stdout)
    assert listed == [{"name": "ops", "policies": ["MLOps"], "members": ["ana"], "created_at": listed[0]["created_at"]}]
    made = run_cli(home, *["auth", "create-role", "deployer", "--trust-principal", "ana", "--policy", "Admin"])
    assert made.returncode == 0, made.stdout + made.stderr
    assert run_cli(home, *["auth", "attach-policy", "deployer", "ReadOnly", "--role"]).returncode == 0
    assert json.loads(run_cli(home, *["auth", "roles", "--json"]).stdout)[0]["policies"] == ["Admin", "ReadOnly"]
    key = json.loads(run_cli(home, *["auth", "create-key", "ana", "--json"]).stdout)["credential"]
    sim = json.loads(run_cli(home, *["auth", "simulate", "ana", "models:Approve", "model/x:1", "--json"]).stdout)
    assert sim["decision"] == "Allow" and sim["matched"] == ["group/ops/MLOps:Statement[0]"]
    got = run_cli(home, *["auth", "assume-role", "deployer", "--key", key, "--duration-seconds", "900", "--json"])
    assert got.returncode == 0, got.stderr
    creds = json.loads(got.stdout)
    assert creds["principal"] == "assumed-role/deployer/ana" and creds["credential"].startswith("FSIA")
    who = json.loads(run_cli(home, *["auth", "whoami", "--key", creds["credential"], "--json"]).stdout)
    assert who["principal"] == "assumed-role/deployer/ana"
    run_cli(home, *["auth", "create-user", "bo"])
    bo = json.loads(run_cli(home, *["auth", "create-key", "bo", "--json"]).stdout)["credential"]
    refused = run_cli(home, *["auth", "assume-role", "deployer", "--key", bo])
    assert refused.returncode != 0 and "does not trust bo" in refused.stderr
    ws = Workspace(settings)
    trail = [(r.principal, r.outcome) for r in AuditLog(ws).records(action=ASSUME)]
    ws.close()
    assert trail == [("ana", "Allowed"), ("bo", "Denied")]


def test_groups_roles_and_sessions_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    from forgeml.settings import load_settings

    ws = Workspace(load_settings(home=str(tmp_path / "ws"), database_url=postgres_url))
    principals, roles = PrincipalStore(ws), RoleStore(ws)
    principals.create_principal("ana")
    roles.create_group("ops", ["MLOps"])
    roles.add_member("ops", "ana")
    assert decide(ws, "ana", "models:Approve", "model/x:1")
    roles.create_role("admin", trust(allow_from({"ForgeML": "ana"})), ["Admin"])
    made = roles.assume_role(principals.get_principal("ana"), "admin", duration_seconds=900)
    session = principals.authenticate(made.credential)
    assert session.name == "assumed-role/admin/ana" and evaluate(identity_policies(ws, session), "datasets:Delete", "dataset/x:1").allowed
    ws.close()
