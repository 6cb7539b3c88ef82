"""``forgeml keys``: master keys of encryption at rest (status, rotate, reencrypt, generate)."""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace

app = typer.Typer(help="Master keys of encryption at rest (docs/security.md).", no_args_is_help=True)


@app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """The key provider, its keys and aliases, and how many artifacts each key seals."""
    from forgeml.security import _rekey

    data = _rekey.status(workspace())

    def show() -> None:
        typer.echo(f"encryption at rest: {'on' if data['encryption_at_rest'] else 'off'}")
        if data.get("provider"):
            typer.echo(f"provider: {data['provider']} {data.get('source', '')}  alias {data['alias']} -> {data['current']}")
        print_table("artifacts by key", ["key", "artifacts"], sorted(data["artifacts_by_key"].items()))
        if data["secrets"]:
            print_table("workspace secrets", ["secret", "state"], sorted(data["secrets"].items()))

    emit(data, as_json, show)


@app.command("rotate")
def rotate(
    alias: str = typer.Option(None, "--alias", help="Key alias to rotate (default FORGEML_ENCRYPTION_KEY_ALIAS, forgeml)."),
    as_json: bool = JsonOption,
) -> None:
    """Make a new key version behind the alias: new writes use it, old data stays readable."""
    from forgeml.security import _rekey

    data = _rekey.rotate(workspace(), alias)
    emit(data, as_json, lambda: typer.echo(f"alias {data['alias']}: {data['previous']} -> {data['current']}"))


@app.command("reencrypt")
def reencrypt(as_json: bool = JsonOption) -> None:
    """Seal every artifact and workspace secret under the current key (plain ones too)."""
    from forgeml.security import _rekey

    data = _rekey.reencrypt(workspace())

    def show() -> None:
        typer.echo(f"re-encrypted {data['artifacts_reencrypted']} artifact(s) and {data['secrets_reencrypted']} secret(s) "
                   f"under {data['key']} ({data['artifacts_already_current']} already current)")  # fmt: skip
        for message in data["failed"].values():
            typer.echo(f"error: {message}", err=True)

    emit(data, as_json, show)
    if data["failed"]:
        raise typer.Exit(7)


@app.command("generate")
def generate() -> None:
    """Print a fresh random master key, base64, for FORGEML_MASTER_KEY."""
    import base64
    import os

    typer.echo(base64.b64encode(os.urandom(32)).decode())
