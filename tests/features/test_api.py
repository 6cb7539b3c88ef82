"""``/feature-groups`` over HTTP (FastAPI test client): records, SQL, training sets, 4xx errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_rest_lifecycle(client: TestClient) -> None:
    now = time.time()
    created = client.post("/feature-groups", json={"name": "cust", "record_identifier": "id", "event_time_feature": "ts",
                                                    "features": ["id:String", "ts:String", "amount:Fractional"]})  # fmt: skip
    assert created.status_code == 201 and created.json()["ref"] == "feature-group/cust:1"
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    r = client.post("/feature-groups/cust/ingest", json={"records": [{"id": "a", "ts": iso(now - 60), "amount": 1.0},
                                                                   {"id": "b", "ts": iso(now - 60), "amount": 2}]})  # fmt: skip
    assert r.status_code == 200 and r.json()["rows"] == 2
    assert client.put("/feature-groups/cust/records", json={"record": {"id": "a", "ts": iso(now), "amount": 5.0}}).json() == {"online_updated": True}
    assert client.get("/feature-groups/cust/records/a").json()["amount"] == 5.0
    assert client.get("/feature-groups/cust/records/a", params={"feature": "amount"}).json() == {"id": "a", "ts": client.get("/feature-groups/cust/records/a").json()["ts"], "amount": 5.0}
    got = client.post("/feature-groups/cust/records/batch-get", json={"record_ids": ["a", "zz", "b"]}).json()
    assert [x["id"] for x in got["records"]] == ["a", "b"] and got["unprocessed_identifiers"] == ["zz"]
    pushed = client.post("/feature-groups/cust/stream", json=[{"id": "c", "ts": now, "amount": 3.0}, {"id": "d", "ts": now}])
    assert pushed.json() == {"written": 2, "online_changed": 2}
    deleted = client.delete("/feature-groups/cust/records/b", params={"event_time": str(now), "mode": "hard"})
    assert deleted.status_code == 200 and deleted.json()["mode"] == "hard"
    assert client.get("/feature-groups/cust/records/b").status_code == 404
    assert client.post("/feature-groups/query", json={"sql": "SELECT count(*) AS n FROM cust"}).json() == [{"n": 6}]
    snap = client.get("/feature-groups/cust/snapshot").json()
    assert sorted(r["id"] for r in snap) == ["a", "c", "d"]
    assert client.get("/feature-groups/cust/consistency").json()["consistent"] is True
    assert client.post("/feature-groups/cust/materialize").json()["records"] == 4
    ts = client.post("/feature-groups/training-sets", json={"entity": [{"id": "a", "t": now - 30}, {"id": "q", "t": now}],
                                                             "features": ["cust:amount"], "event_time_column": "t", "name": "tr"})  # fmt: skip
    body = ts.json()
    assert [r["amount"] for r in body["rows"]] == [1.0, None] and body["dataset"] == "dataset/tr:1"
    assert client.post("/feature-groups/cust/versions", json={"features": ["x:Integral"]}).json()["version"] == 2
    assert client.post("/feature-groups/cust/compact").status_code == 200
    assert [g["name"] for g in client.get("/feature-groups").json()] == ["cust"]
    assert client.delete("/feature-groups/cust").status_code == 204
    assert client.get("/feature-groups/cust").status_code == 404


def test_rest_errors_are_4xx(client: TestClient) -> None:
    assert client.post("/feature-groups", json={"name": "g", "record_identifier": "id", "event_time_feature": "ts",
                                                 "features": ["id:Integral", "ts:Float"]}).status_code == 400  # fmt: skip
    client.post("/feature-groups", json={"name": "g", "record_identifier": "id", "event_time_feature": "ts",
                                         "features": ["id:Integral", "ts:Fractional", "v:Integral"]})  # fmt: skip
    cases = [
        client.put("/feature-groups/g/records", json={"record": {"id": 1, "ts": "noon"}}),
        client.put("/feature-groups/g/records", json={"record": {"id": 1, "ts": 1.0, "v": "x"}}),
        client.put("/feature-groups/g/records", json={"record": {"id": 1, "ts": 1.0, "zzz": 1}}),
        client.put("/feature-groups/g/records", json={"record": {"ts": 1.0}}),
        client.post("/feature-groups/g/stream", json=[{"id": 1, "ts": 1.0}, {"id": 2, "ts": "bad"}]),
        client.post("/feature-groups/query", json={"sql": "DELETE FROM g"}),
        client.post("/feature-groups/g/versions", json={"features": ["v:String"]}),
        client.delete("/feature-groups/g/records/1", params={"event_time": "1", "mode": "wipe"}),
    ]
    assert [c.status_code for c in cases] == [400] * 8, [c.json() for c in cases]
    assert "record 1:" in cases[4].json()["message"]
    assert client.post("/feature-groups/query", json={"sql": "SELECT count(*) AS n FROM g"}).json() == [{"n": 0}]
    assert client.put("/feature-groups/ghost/records", json={"record": {"id": 1}}).status_code == 404
    assert client.post("/feature-groups", json={"name": "g", "record_identifier": "id", "event_time_feature": "ts",
                                                 "features": ["id:Integral", "ts:Fractional"]}).status_code == 409  # fmt: skip
