"""The OpenAPI spec declares what the server sends (issue 11, item 6): every route's error
statuses, 400 (never FastAPI's 422) for bad input, and a range for every integer it takes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace

IDEMPOTENT_422 = "Idempotency-Key"  # the one documented 422: a key reused with another body


@pytest.fixture
def spec(ws: Workspace) -> dict[str, Any]:
    with TestClient(create_app(ws)) as client:
        return client.get("/openapi.json").json()


def _routes(ws: Workspace) -> list[APIRoute]:
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
    return [r for r in seen if r.include_in_schema]


def test_every_route_declares_its_errors(ws: Workspace) -> None:
    routes = _routes(ws)
    assert len(routes) > 100
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if 400 not in (r.responses or {})]
    assert not undeclared, f"routes without responses=errors(...): {undeclared}"
    no_404 = [r.path for r in routes if "{" in r.path and 404 not in r.responses]
    assert not no_404, f"routes naming a resource in the path must declare 404: {no_404}"


def test_spec_declares_400_and_500_never_the_default_422(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"400", "500"} <= codes, (method, path)
            if "422" in codes:
                assert IDEMPOTENT_422 in str(op.get("parameters")), (method, path, "422 without an Idempotency-Key")
            for code, answer in op["responses"].items():
                if int(code) >= 400:
                    assert answer["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def _integers(node: Any, spec: dict[str, Any], where: str, seen: set[str]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            target = spec
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            found += _integers(target, spec, f"{where}->{ref.rsplit('/', 1)[-1]}", seen)
        if node.get("type") == "integer":
            found.append((where, node))
        for key, value in node.items():
            if key not in ("$ref", "default", "examples", "example"):
                found += _integers(value, spec, f"{where}.{key}", seen)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _integers(value, spec, f"{where}[{i}]", seen)
    return found


def test_every_integer_a_route_takes_is_bounded(spec: dict[str, Any]) -> None:
    """2**64 in a query or body used to reach SQLite and answer 500 (OverflowError)."""
    unbounded = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            taken = {"parameters": op.get("parameters", []), "body": op.get("requestBody", {})}
            for where, schema in _integers(taken, spec, f"{method.upper()} {path}", set()):
                if "maximum" not in schema or "minimum" not in schema:
                    unbounded.append(where)
    assert not unbounded, unbounded


def test_every_reference_in_the_spec_resolves(spec: dict[str, Any]) -> None:
    """A second model named like a shared one (two ``ErrorBody`` classes) makes FastAPI rename
    both, leaving every other ``$ref`` dangling, and Swagger UI stops rendering at the first."""
    import json
    import re

    names = set(spec["components"]["schemas"])
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs - names == set()
    assert not [n for n in names if "__" in n], "a schema name was made unique by its module path"
