"""``forgeml tls``: certificates for TLS in transit."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="TLS for forgeml server and endpoint servers (docs/security.md).", no_args_is_help=True)


@app.command("dev-cert")
def dev_cert(
    out: Path = typer.Option(Path("tls"), "--out", help="Folder for cert.pem and key.pem."),
    host: list[str] = typer.Option(None, "--host", help="Name or address the certificate covers (repeat; default localhost, 127.0.0.1)."),
    days: int = typer.Option(365, help="Lifetime in days."),
) -> None:
    """Write a self-signed certificate and key for local use (the certificate is also the CA bundle)."""
    from forgeml.security import dev_cert as make

    cert, key = make(out / "cert.pem", out / "key.pem", hosts=host or None, days=days)
    typer.echo(f"wrote {cert} and {key} (mode 0600)")
    typer.echo(f"server: FORGEML_TLS_CERTFILE={cert} FORGEML_TLS_KEYFILE={key}")
    typer.echo(f"clients: FORGEML_TLS_CA_BUNDLE={cert}")
