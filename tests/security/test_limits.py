"""Request limits (issue 14, item 7): a token bucket per principal (per address with security
off) answering 429 with Retry-After, one client's flood leaving the others served, and a cap on
request bodies (413), on the REST API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import ThrottlingError
from forgeml.security import AuditLog, PrincipalStore
from forgeml.security._limits import RateLimiter
from forgeml.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_by_hand() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=2, clock=clock)  # one token every 2 s, two at once
    assert [limiter.wait("a"), limiter.wait("a")] == [0.0, 0.0]
    assert limiter.wait("a") == pytest.approx(2.0)  # empty: a whole token is 2 s away
    assert limiter.wait("b") == 0.0  # another key has its own bucket
    clock.now += 1.0  # half a token back
    assert limiter.wait("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.wait("a") == 0.0
    clock.now += 100.0  # refills up to the burst, never past it
    assert [limiter.wait("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(2.0)]
    with pytest.raises(ThrottlingError, match=r"rate limit of 0.5 requests/s \(burst 2\) exceeded; retry after 2 s") as info:
        limiter.check("a", "ana")
    assert info.value.retry_after == 2 and info.value.http_status == 429
    off = RateLimiter(rate=0, burst=0)
    assert not off.enabled and all(off.wait("a") == 0.0 for _ in range(100))
    assert RateLimiter(rate=2.5, burst=0).burst == 3  # burst 0: ceil(rate)


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[Workspace, TestClient]]:
    # about one token per 17 minutes: a test sees only the burst, whatever its speed
    s = settings.model_copy(update={"security_enabled": True, "rate_limit_per_second": 0.001, "rate_limit_burst": 3})
    ws = Workspace(s)
    with TestClient(create_app(ws)) as client:
        yield ws, client
    ws.close()


def test_one_principal_hitting_its_limit_does_not_starve_another(limited: tuple[Workspace, TestClient]) -> None:
    ws, client = limited
    store = PrincipalStore(ws)
    keys = {}
    for name in ("noisy", "quiet"):
        store.create_principal(name, policies=["ReadOnly"])
        keys[name] = {"Authorization": f"Bearer {store.create_key(name).credential}"}
    noisy = [client.get("/alarms", headers=keys["noisy"]) for _ in range(6)]
    assert [r.status_code for r in noisy] == [200, 200, 200, 429, 429, 429]
    assert noisy[3].json()["error"] == "ThrottlingError" and "noisy" in noisy[3].json()["message"]
    assert int(noisy[3].headers["retry-after"]) >= 1
    assert [client.get("/alarms", headers=keys["quiet"]).status_code for _ in range(3)] == [200, 200, 200]
    outcomes = [r.outcome for r in AuditLog(ws).records(principal="noisy")]
    assert outcomes == ["Allowed"] * 3 + ["Throttled"] * 3
    # a bad key is not charged to the principal it names (a stranger cannot drain ana's bucket)
    key_id = keys["quiet"]["Authorization"].split()[1].partition(":")[0]
    for _ in range(5):
        assert client.get("/alarms", headers={"Authorization": f"Bearer {key_id}:wrong"}).status_code == 401
    assert client.get("/alarms", headers=keys["quiet"]).status_code == 429  # its own fourth call


def test_with_security_off_the_bucket_is_per_address(settings: Settings) -> None:
    ws = Workspace(settings.model_copy(update={"rate_limit_per_second": 0.001, "rate_limit_burst": 2}))
    app = create_app(ws)
    with TestClient(app) as one, TestClient(app, client=("10.0.0.9", 5000)) as other:
        assert [one.get("/alarms").status_code for _ in range(3)] == [200, 200, 429]
        assert [other.get("/alarms").status_code for _ in range(2)] == [200, 200]
        assert 900 < int(one.get("/health").headers["retry-after"]) <= 1000  # a whole token at 0.001/s
    ws.close()


def test_request_bodies_past_the_cap_are_413(settings: Settings) -> None:
    ws = Workspace(settings.model_copy(update={"api_max_request_mb": 1 / 1024}))  # 1 KiB
    with TestClient(create_app(ws)) as client:
        small = client.post("/experiments", json={"name": "e1"})
        assert small.status_code in (200, 201), small.text
        big = client.post("/experiments", json={"name": "e2", "description": "x" * 2000})
        assert big.status_code == 413 and big.json()["error"] == "PayloadTooLargeError"
        assert "exceeds the limit of 1024 bytes" in big.json()["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"name": "e3", "description": "'
            for _ in range(40):
                yield b"x" * 100
            yield b'"}'

        streamed = client.post("/experiments", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413, streamed.text
        assert client.post("/endpoints/x/invocations", content=b"1" * 5000).status_code == 413  # the fast path too
    ws.close()
