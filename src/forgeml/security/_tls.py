"""TLS in transit: a self-signed pair for local use, the server's certificate options, and the
verification clients use (``tls_ca_bundle``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.settings import Settings


def dev_cert(cert_path: Path, key_path: Path, *, hosts: list[str] | None = None, days: int = 365) -> tuple[Path, Path]:
    """Write a self-signed certificate (PEM) and its EC P-256 key (PEM, mode 0600) for local use.

    The certificate names every ``hosts`` entry (default ``localhost`` and ``127.0.0.1``) as a
    subject alternative name and is its own CA: point ``tls_ca_bundle`` at it on the client side.

    Raises:
        ValidationError: for a non-positive lifetime or no host.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    hosts = hosts or ["localhost", "127.0.0.1"]
    if days < 1:
        raise ValidationError(f"days must be >= 1, got {days}")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ForgeML development")])  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    for path in (cert_path, key_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))  # fmt: skip
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's ``ssl_certfile`` / ``ssl_keyfile`` from the settings; empty when TLS is off.

    Raises:
        ValidationError: when only one of the two is set.
        NotFoundError: when a named file does not exist.
    """
    cert, key = settings.tls_certfile, settings.tls_keyfile
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise ValidationError("set both tls_certfile and tls_keyfile (FORGEML_TLS_CERTFILE, FORGEML_TLS_KEYFILE) or neither")
    for name, path in (("tls_certfile", cert), ("tls_keyfile", key)):
        if not Path(path).expanduser().is_file():
            raise NotFoundError(f"{name} {path} does not exist")
    return {"ssl_certfile": str(Path(cert).expanduser()), "ssl_keyfile": str(Path(key).expanduser())}


def client_verify(settings: Settings) -> ssl.SSLContext | bool:
    """What an httpx client passes as ``verify``: a context trusting ``tls_ca_bundle``, else the
    system CAs (``True``). Verification is never turned off.

    Raises:
        NotFoundError: when the CA bundle does not exist.
    """
    if settings.tls_ca_bundle is None:
        return True
    path = Path(settings.tls_ca_bundle).expanduser()
    if not path.is_file():
        raise NotFoundError(f"tls_ca_bundle {path} does not exist")
    return ssl.create_default_context(cafile=str(path))


def client_context(settings: Settings) -> ssl.SSLContext:
    """:func:`client_verify` as an SSL context (asyncio streams take no ``True``)."""
    verify = client_verify(settings)
    return verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()


__all__ = ["client_context", "client_verify", "dev_cert", "server_options"]
