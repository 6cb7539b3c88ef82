"""TLS in transit: the dev certificate, settings, and a real handshake against a real ``forgeml server``."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forgeml.errors import NotFoundError, ValidationError
from forgeml.security import client_verify, dev_cert, server_options
from forgeml.settings import Settings
from tests.cli_runner import run_cli


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("tls")
    return dev_cert(out / "cert.pem", out / "key.pem")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_cert_names_localhost_and_keeps_its_key_private(pair: tuple[Path, Path]) -> None:
    from cryptography import x509

    cert_path, key_path = pair
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert key_path.stat().st_mode & 0o777 == 0o600
    ssl.create_default_context(cafile=str(cert_path))  # loads as a CA bundle


def test_cli_dev_cert(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "ws", "tls", "dev-cert", "--out", str(tmp_path / "certs"), "--host", "forge.local", "--days", "2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "certs" / "cert.pem").is_file() and "FORGEML_TLS_CA_BUNDLE=" in result.stdout
    bad = run_cli(tmp_path / "ws", "tls", "dev-cert", "--out", str(tmp_path / "c2"), "--days", "0")
    assert bad.returncode == 2 and "days must be >= 1" in bad.stderr


def test_tls_settings_are_checked(settings: Settings, pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = pair
    assert server_options(settings) == {}
    assert server_options(settings.model_copy(update={"tls_certfile": cert, "tls_keyfile": key})) == {
        "ssl_certfile": str(cert), "ssl_keyfile": str(key)}  # fmt: skip
    with pytest.raises(ValidationError, match="set both tls_certfile and tls_keyfile"):
        server_options(settings.model_copy(update={"tls_certfile": cert}))
    with pytest.raises(NotFoundError, match=r"tls_keyfile .*missing.pem does not exist"):
        server_options(settings.model_copy(update={"tls_certfile": cert, "tls_keyfile": tmp_path / "missing.pem"}))
    assert client_verify(settings) is True
    with pytest.raises(NotFoundError, match="tls_ca_bundle"):
        client_verify(settings.model_copy(update={"tls_ca_bundle": tmp_path / "nope.pem"}))


@pytest.fixture(scope="module")
def tls_server(pair: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``forgeml server`` in its own process, serving HTTPS with the dev pair."""
    cert, key = pair
    home, port = tmp_path_factory.mktemp("tls-ws"), _free_port()
    env = {**os.environ, "FORGEML_HOME": str(home), "FORGEML_TLS_CERTFILE": str(cert), "FORGEML_TLS_KEYFILE": str(key)}
    log_path = home / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "forgeml", "server", "--port", str(port)], env=env, stdout=log, stderr=log)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"https://127.0.0.1:{port}/health", verify=context, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_real_handshake_verifies_against_the_ca_bundle(tls_server: str, pair: tuple[Path, Path], settings: Settings) -> None:
    cert, _ = pair
    verify = client_verify(settings.model_copy(update={"tls_ca_bundle": cert}))
    for host in (tls_server, tls_server.replace("127.0.0.1", "localhost")):
        with httpx.Client(base_url=f"https://{host}", verify=verify, timeout=10) as http:
            response = http.get("/health")
            assert response.status_code == 200
            assert response.extensions["network_stream"].get_extra_info("ssl_object").version() in {"TLSv1.2", "TLSv1.3"}


def test_clients_without_the_ca_refuse_and_plain_http_gets_nothing(tls_server: str) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://{tls_server}/health", timeout=10)  # system CAs do not know the dev cert
    with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port: the connection is dropped
        httpx.get(f"http://{tls_server}/health", timeout=10)
