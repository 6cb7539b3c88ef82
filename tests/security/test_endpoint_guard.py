"""Endpoint servers' own ports (issue 14, items 1, 6, 7): credentials once security is on, the
network allow-list (the security-group role), the bind address, and rate limits, against real
endpoint server processes."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import ForbiddenError
from forgeml.security import AuditLog, PrincipalStore
from forgeml.security._guard import TOKEN_FILE, EndpointGuard
from forgeml.settings import Settings
from tests.serving.conftest import tree_package

ROW = b'[{"x1": 0.5, "x2": 3}]'


def own_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tree_package(tmp_path_factory.mktemp("pkg") / "tree")


@pytest.fixture
def secure(settings: Settings, package: Path) -> Iterator[tuple[Workspace, str]]:
    ws = Workspace(settings.model_copy(update={"security_enabled": True}))
    record = ws.endpoints.deploy("guarded", str(package))
    yield ws, record.data["url"]
    ws.endpoints.delete("guarded")
    ws.close()


def test_an_endpoint_port_needs_a_key_allowed_to_invoke(secure: tuple[Workspace, str]) -> None:
    ws, url = secure
    store = PrincipalStore(ws)
    store.create_principal("sci", policies=["DataScientist"])
    store.create_principal("reader", policies=["ReadOnly"])
    sci, reader = store.create_key("sci").credential, store.create_key("reader").credential
    token_file = Path(ws.endpoints.get("guarded").data["runtime_dir"]) / TOKEN_FILE
    assert token_file.stat().st_mode & 0o777 == 0o600
    with httpx.Client(base_url=url) as http:
        assert http.get("/ping").status_code == 200  # the health probe needs nothing
        bare = http.post("/invocations", content=ROW, headers={"content-type": "application/json"})
        assert bare.status_code == 401 and bare.json()["error"] == "UnauthenticatedError"
        bad = http.post("/invocations", content=ROW, headers={"authorization": f"Bearer {sci.partition(':')[0]}:wrong"})
        assert bad.status_code == 401
        denied = http.post("/invocations", content=ROW, headers={"authorization": f"Bearer {reader}", "content-type": "application/json"})
        assert denied.status_code == 403 and "reader may not endpoints:Invoke on endpoint/guarded" in denied.json()["message"]
        ok = http.post("/invocations", content=ROW, headers={"x-forgeml-key": sci, "content-type": "application/json"})
        assert ok.status_code == 200, ok.text
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"x-forgeml-key": reader}).status_code == 200  # endpoints:Read
        forged = http.post("/invocations", content=ROW, headers={"x-forgeml-proxy-token": "guess", "content-type": "application/json"})
        assert forged.status_code == 401
    # the platform's own callers pass with the endpoint's proxy token: the SDK on the workspace...
    assert len(ws.endpoints.invoke("guarded", ROW).json()) == 1
    # ...and forgeml server's proxy, after its own check of the caller's key
    with TestClient(create_app(ws)) as client:
        through = client.post("/endpoints/guarded/invocations", content=ROW, headers={"x-forgeml-key": sci, "content-type": "application/json"})
        assert through.status_code == 200, through.text
        refused = client.post("/endpoints/guarded/invocations", content=ROW, headers={"x-forgeml-key": reader, "content-type": "application/json"})
        assert refused.status_code == 403
    trail = [(r.principal, r.outcome) for r in AuditLog(ws).records(action="endpoints:Invoke")]
    assert trail == [("anonymous", "Unauthenticated"), ("key:" + sci.partition(":")[0], "Unauthenticated"),
                     ("reader", "Denied"), ("sci", "Allowed"), ("anonymous", "Unauthenticated"),  # the forged token
                     ("sci", "Allowed"), ("reader", "Denied")]  # fmt: skip


def test_endpoint_rate_limit_per_principal(settings: Settings, package: Path) -> None:
    s = settings.model_copy(update={"security_enabled": True, "endpoint_rate_limit_per_second": 0.001, "endpoint_rate_limit_burst": 2})
    ws = Workspace(s)
    store = PrincipalStore(ws)
    for name in ("noisy", "quiet"):
        store.create_principal(name, policies=["DataScientist"])
    keys = {n: store.create_key(n).credential for n in ("noisy", "quiet")}
    url = ws.endpoints.deploy("limited", str(package)).data["url"]
    try:
        with httpx.Client(base_url=url) as http:
            def call(who: str) -> httpx.Response:
                return http.post("/invocations", content=ROW, headers={"x-forgeml-key": keys[who], "content-type": "application/json"})

            noisy = [call("noisy") for _ in range(4)]
            assert [r.status_code for r in noisy] == [200, 200, 429, 429]
            assert int(noisy[2].headers["retry-after"]) > 900
            assert [call("quiet").status_code for _ in range(2)] == [200, 200]
        # the platform's own calls were limited where they came in, not here
        assert all(ws.endpoints.invoke("limited", ROW).json() for _ in range(3))
    finally:
        ws.endpoints.delete("limited")
        ws.close()


@pytest.mark.parametrize(("networks", "source", "admitted"), [
    (["127.0.0.1/32"], "127.0.0.1", True),
    (["127.0.0.1/32"], "127.0.0.5", True),  # loopback is always let in (the proxy and the probe)
    (["127.0.0.1/32"], "10.1.2.3", False),
    (["10.0.0.0/8"], "10.1.2.3", True),
    (["10.0.0.0/8", "192.168.1.7"], "192.168.1.7", True),
    (["10.0.0.0/8"], "192.168.1.7", False),
    (["fd00::/8"], "fd00::2", True),
    (["10.0.0.0/8"], "not-an-address", False),
])  # fmt: skip
def test_allow_list_cases(networks: list[str], source: str, admitted: bool) -> None:
    guard = EndpointGuard("e", {"allowed_networks": networks})
    if admitted:
        guard.admits(source)
    else:
        with pytest.raises(ForbiddenError, match=f"{source} is not in the allowed networks of endpoint 'e'"):
            guard.admits(source)


def test_bind_address_and_allow_list_over_a_real_interface(settings: Settings, package: Path) -> None:
    open_ws = Workspace(settings.model_copy(update={"endpoint_host": "0.0.0.0"}))
    with pytest.raises(ForbiddenError, match=r"refusing to serve endpoints on 0\.0\.0\.0: beyond loopback an endpoint needs security on"):
        open_ws.endpoints.deploy("open", str(package))
    assert open_ws.endpoints.list() == []  # refused before anything was made
    open_ws.close()
    address = own_address()
    assert address is not None, "this test calls from the machine's own non-loopback address, and it has none"
    s = settings.model_copy(update={"security_enabled": True, "endpoint_host": "0.0.0.0"})
    ws = Workspace(s)
    port = ws.endpoints.deploy("wide", str(package)).data["port"]
    try:
        with httpx.Client() as http:  # from this machine's own address, which is not on the allow-list
            refused = http.get(f"http://{address}:{port}/ping")
            assert refused.status_code == 403 and f"{address} is not in the allowed networks" in refused.json()["message"]
            assert http.get(f"http://127.0.0.1:{port}/ping").status_code == 200
    finally:
        ws.endpoints.delete("wide")
        ws.close()
    ws = Workspace(s.model_copy(update={"endpoint_allowed_networks": [f"{address}/32"]}))
    port = ws.endpoints.deploy("wide", str(package)).data["port"]
    try:
        with httpx.Client() as http:
            assert http.get(f"http://{address}:{port}/ping").status_code == 200
            assert http.post(f"http://{address}:{port}/invocations", content=ROW).status_code == 401  # still needs a key
    finally:
        ws.endpoints.delete("wide")
        ws.close()


def test_endpoint_servers_speak_tls_with_the_servers_certificate(settings: Settings, package: Path, tmp_path: Path) -> None:
    from forgeml.security import dev_cert

    cert, key = dev_cert(tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    s = settings.model_copy(update={"tls_certfile": cert, "tls_keyfile": key, "tls_ca_bundle": cert, "security_enabled": True})
    ws = Workspace(s)
    store = PrincipalStore(ws)
    store.create_principal("sci", policies=["DataScientist"])
    sci = store.create_key("sci").credential
    record = ws.endpoints.deploy("tls", str(package))
    try:
        url = record.data["url"]
        assert url.startswith("https://127.0.0.1:") and record.data["tls"] is True
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as http:  # verified, never turned off
            ok = http.post(f"{url}/invocations", content=ROW, headers={"x-forgeml-key": sci, "content-type": "application/json"})
            assert ok.status_code == 200, ok.text
        with httpx.Client() as http, pytest.raises(httpx.ConnectError):  # the system CAs do not know it
            http.get(f"{url}/ping")
        with httpx.Client() as http, pytest.raises(httpx.HTTPError):  # no plain HTTP on the port
            http.get(f"http://127.0.0.1:{record.data['port']}/ping")
        assert len(ws.endpoints.invoke("tls", ROW).json()) == 1  # the SDK verifies with tls_ca_bundle
        with TestClient(create_app(ws)) as client:  # forgeml server's proxy speaks TLS to it
            through = client.post("/endpoints/tls/invocations", content=ROW, headers={"x-forgeml-key": sci, "content-type": "application/json"})
            assert through.status_code == 200, through.text
    finally:
        ws.endpoints.delete("tls")
        ws.close()
