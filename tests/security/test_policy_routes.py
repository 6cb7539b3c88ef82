"""Every REST route declares its action, and each managed persona's decision on each route is
right and audited (issue 14, item 2): generated from the route table, so a new route without an
action in ``forgeml.security._actions`` fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.security import MANAGED, AuditLog, PrincipalStore
from forgeml.security._actions import PUBLIC, ROUTE_ACTIONS
from forgeml.settings import load_settings

READ = ("Read", "List")
# an independent statement of each persona, by service and verb (the managed documents say it as statements)
# fmt: off
EXPECTED = {
    "ReadOnly": lambda service, verb: verb in READ or (service, verb) == ("system", "Health"),
    "DataScientist": lambda service, verb: verb in READ or service in {
        "system", "datasets", "features", "training", "tuning", "experiments", "jobs", "evaluation", "clarify", "transforms", "bundles",
    } or (service, verb) in {("models", "Register"), ("models", "Write"), ("endpoints", "Invoke"), ("endpoints", "InvokeAsync")},
    "MLOps": lambda service, verb: verb in READ or service in {"system", "endpoints", "monitoring", "alarms", "metrics", "models", "transforms", "jobs", "bundles"},
    "Admin": lambda service, verb: True,
}
# fmt: on


def app_routes(ws: Workspace, *, hidden: bool = False) -> list[APIRoute]:
    app = create_app(ws)
    app.openapi()
    seen: list[APIRoute] = []

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                seen.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "routes"):
                walk(route.routes)

    walk(app.router.routes)
    return [r for r in seen if r.include_in_schema != hidden]


def operations(ws: Workspace) -> list[tuple[str, str]]:
    return sorted((m, r.path) for r in app_routes(ws) for m in r.methods if m != "HEAD")


def test_every_route_declares_an_action(ws: Workspace) -> None:
    ops = operations(ws)
    assert len(ops) > 100
    missing = [f"{m} {p}" for m, p in ops if (m, p) not in ROUTE_ACTIONS]
    assert not missing, f"routes with no action in forgeml/security/_actions.py: {missing}"
    stale = [f"{m} {p}" for m, p in ROUTE_ACTIONS if (m, p) not in set(ops)]
    assert not stale, f"actions declared for routes that do not exist: {stale}"
    for (method, path), declared in ROUTE_ACTIONS.items():
        params = set(re.findall(r"\{(\w+)(?::path)?\}", path))
        used = set(re.findall(r"\{(\w+)\}", declared.resource))
        assert used <= params, f"{method} {path}: resource {declared.resource} names {used - params}, not a path parameter"


def test_routes_outside_the_spec_are_the_public_docs_pages(ws: Workspace) -> None:
    hidden = {(m, r.path) for r in app_routes(ws, hidden=True) for m in r.methods if m != "HEAD"}
    assert hidden == set(PUBLIC), "a route outside the spec must be listed in PUBLIC or get an action"
    secured = Workspace(ws.settings.model_copy(update={"security_enabled": True}))
    with TestClient(create_app(secured)) as client:
        assert [client.get(p).status_code for p in ("/docs", "/redoc", "/openapi.json")] == [200, 200, 200]
        assert client.get("/health").status_code == 401
    secured.close()


def test_the_spec_declares_401_and_403_on_every_operation(ws: Workspace) -> None:
    with TestClient(create_app(ws)) as client:
        spec = client.get("/openapi.json").json()
    lacking = [f"{m.upper()} {p}" for p, item in spec["paths"].items() for m, op in item.items() if not {"401", "403"} <= set(op["responses"])]
    assert not lacking, f"operations without 401/403 in the spec: {lacking}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict[str, str]]]:
    home = tmp_path_factory.mktemp("secured") / "ws"
    ws = Workspace(load_settings(home=str(home), security_enabled=True, job_stop_grace_seconds=2.0, job_poll_seconds=0.1))
    store = PrincipalStore(ws)
    creds = {}
    for persona in MANAGED:
        store.create_principal(persona.lower(), policies=[persona])
        creds[persona] = store.create_key(persona.lower()).credential
    yield ws, creds
    ws.close()


def _url(path: str) -> str:
    filled = re.sub(r"\{ref:path\}", "dataset/nothing", path)
    filled = re.sub(r"\{(version)\}", "1", filled)
    return re.sub(r"\{\w+\}", "nothing", filled)


@pytest.mark.parametrize("persona", list(MANAGED))
def test_authorization_matrix(secured: tuple[Workspace, dict[str, str]], persona: str) -> None:
    ws, creds = secured
    wrong = []
    with TestClient(create_app(ws), raise_server_exceptions=False) as client:
        for i, (method, path) in enumerate(sorted(ROUTE_ACTIONS)):
            declared = ROUTE_ACTIONS[(method, path)]
            service, _, verb = declared.action.partition(":")
            expected = EXPECTED[persona](service, verb)
            request_id = f"{persona}-{i}"
            headers = {"X-Forgeml-Key": creds[persona], "X-Request-Id": request_id}
            body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            response = client.request(method, _url(path), headers=headers, **body)
            denied = response.status_code == 403 and f"may not {declared.action}" in response.json()["message"]
            [record] = [r for r in AuditLog(ws).records(principal=persona.lower(), limit=3) if r.request_id == request_id]
            if denied == expected or response.status_code in (401, 500) or record.outcome != ("Allowed" if expected else "Denied"):
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]}, audited {record.outcome}")
    assert not wrong, f"{persona}: {len(wrong)} wrong decision(s): {wrong}"


def test_no_credential_is_401_and_audited(secured: tuple[Workspace, dict[str, str]]) -> None:
    ws, _ = secured
    with TestClient(create_app(ws)) as client:
        response = client.get("/datasets", headers={"X-Request-Id": "anon-1"})
    assert response.status_code == 401
    assert response.json()["error"] == "UnauthenticatedError"
    [record] = [r for r in AuditLog(ws).records(principal="anonymous") if r.request_id == "anon-1"]
    assert (record.action, record.resource, record.outcome) == ("datasets:List", "dataset/*", "Unauthenticated")
