"""Bad input over REST is a 4xx naming what and where, never a 500 (issue 11, item 6); 405 names
the allowed methods; a 500 that still happens is a clean JSON answer that closes the connection."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from tests.api.conftest import serve

BIG = 2**64


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws), raise_server_exceptions=False) as c:
        yield c


def _bad(resp: httpx.Response, *words: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "ValidationError" and "\n" not in body["message"], body
    for word in words:
        assert word in body["message"], body


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("get", "/datasets/loans/head", {"params": {"version": BIG}}, "version"),
        ("get", f"/datasets/loans/versions/{BIG}", {}, "version"),
        ("get", "/jobs", {"params": {"offset": BIG}}, "offset"),
        ("get", "/events", {"params": {"after": BIG}}, "after"),
        ("get", "/feature-groups/fg/snapshot", {"params": {"n": BIG}}, "n"),
        ("get", "/model-package-groups/m/versions/" + str(BIG), {}, ""),
        ("post", "/runs/search", {"json": {"offset": BIG}}, "offset"),
        ("post", "/runs/search", {"json": {"max_results": -BIG}}, "max_results"),
        ("put", "/model-package-groups/m/aliases/champion", {"json": {"version": BIG}}, "version"),
        ("post", "/runs/e/r/metrics", {"json": {"metrics": {"a": 1.0}, "step": BIG}}, "step"),
        ("post", "/training-jobs", {"json": {"algorithm": "xgboost", "channels": {"train": "dataset/d"}, "seed": BIG}}, "seed"),
    ],
)
def test_integers_out_of_range_are_400(client: TestClient, method: str, path: str, kwargs: dict, field: str) -> None:
    _bad(getattr(client, method)(path, **kwargs), field)


def test_a_boolean_is_not_a_number(client: TestClient) -> None:
    _bad(client.post("/runs/search", json={"offset": False}), "offset")
    _bad(client.post("/runs/e/r/metrics", json={"metrics": {"auc": True}}), "metrics")


def test_nul_byte_in_a_name_or_path_is_400(client: TestClient) -> None:
    _bad(client.post("/datasets/loans/upload?filename=a%00.csv", content=b"a,b\n1,2\n"), "query.filename", "NUL")
    _bad(client.get("/datasets/lo%00ans"), "path", "NUL")
    _bad(client.get("/jobs", params={"status": "Completed\x00"}), "query.status")


def test_unicode_digits_are_not_numbers(client: TestClient) -> None:
    """``'¹'.isdigit()`` is True, and ``int('¹')`` raised ValueError: a 500."""
    _bad(client.post("/runs/compare", json={"runs": ["¹"]}), "¹")
    _bad(client.post("/runs/compare", json={"runs": [str(BIG)]}), "run")
    _bad(client.get("/model-package-groups/m/versions/¹"))  # not a version number, not an alias


def test_value_type_and_overflow_errors_from_a_handler_are_400(ws: Workspace) -> None:
    app = create_app(ws)

    @app.get("/_raise/{kind}")
    def _raise(kind: str) -> None:
        raise {"value": ValueError("bad number 'x'\nmore"), "type": TypeError("not a list"), "overflow": OverflowError("too big")}[kind]

    with TestClient(app, raise_server_exceptions=False) as client:
        _bad(client.get("/_raise/value"), "bad number 'x'")
        _bad(client.get("/_raise/type"), "not a list")
        _bad(client.get("/_raise/overflow"), "too big")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/datasets/loans", "GET, HEAD"),
        ("PATCH", "/endpoints/ep", "DELETE, GET, HEAD, PUT"),
        ("DELETE", "/datasets/ingest", "POST"),
        ("PUT", "/experiments", "GET, HEAD, POST"),
    ],
)
def test_405_carries_allow(client: TestClient, method: str, path: str, allow: str) -> None:
    resp = client.request(method, path)
    assert resp.status_code == 405 and resp.json()["error"] == "MethodNotAllowed"
    assert resp.headers["allow"] == allow


def test_a_500_is_clean_json_and_closes_the_connection(ws: Workspace) -> None:
    """Over a real uvicorn: the client's next request on the same pool still works."""
    app = create_app(ws)

    @app.get("/_bug")
    def _bug() -> None:
        raise RuntimeError("secret /srv/path detail")

    for served in serve(ws, app):
        with httpx.Client(base_url=served.url) as http:
            resp = http.get("/_bug")
            assert resp.status_code == 500 and resp.headers["connection"] == "close"
            assert resp.json() == {"error": "InternalError", "message": "unexpected RuntimeError on the server; its log has the details"}
            assert all(http.get("/health").status_code == 200 for _ in range(3))
