"""``forgeml auth``: principals, API keys, policies, and what a principal may do."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace

app = typer.Typer(help="Principals, API keys and policies (docs/security.md).", no_args_is_help=True)

KeyOption = typer.Option(None, "--key", help="AKID:SECRET to check (default FORGEML_API_KEY); none: the local workspace owner.")


def _when(value: float | None) -> str:
    import datetime as dt

    return "" if value is None else dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("create-user")
def create_user(
    name: str = typer.Argument(..., help="User or service account name."),
    service: bool = typer.Option(False, "--service", help="A service account, not a person."),
    policy: list[str] = typer.Option([], "--policy", help="Attach this policy (ReadOnly, DataScientist, MLOps, Admin or a stored one); repeatable."),
    as_json: bool = JsonOption,
) -> None:
    """Add a user (or with --service a service account) with policies attached."""
    from forgeml.security import PrincipalStore

    p = PrincipalStore(workspace()).create_principal(name, "service" if service else "user", policy)
    emit(p.to_dict(), as_json, lambda: typer.echo(f"created {p.type} {p.name} (policies: {', '.join(p.policies) or 'none'})"))


@app.command("users")
def users(as_json: bool = JsonOption) -> None:
    """List principals and their policies."""
    from forgeml.security import PrincipalStore

    data = [p.to_dict() for p in PrincipalStore(workspace()).list_principals()]
    emit(data, as_json, lambda: print_table(f"{len(data)} principal(s)", ["name", "type", "policies"],
                                            ((d["name"], d["type"], ", ".join(d["policies"])) for d in data)))  # fmt: skip


@app.command("create-key")
def create_key(
    principal: str = typer.Argument(..., help="The user or service account the key acts as."),
    expires_in_days: float = typer.Option(None, "--expires-in-days", help="The key stops working after this many days."),
    as_json: bool = JsonOption,
) -> None:
    """Make an API key; its secret is printed now and never again (only a scrypt hash is kept)."""
    from forgeml.security import PrincipalStore

    made = PrincipalStore(workspace()).create_key(principal, expires_in_days=expires_in_days)
    data = {**made.key.to_dict(), "secret": made.secret, "credential": made.credential}
    emit(data, as_json, lambda: typer.echo(
        f"access key {made.key.key_id} for {principal}\ncredential (shown once): {made.credential}"
    ))  # fmt: skip


@app.command("keys")
def keys(principal: str = typer.Argument(None, help="Only this principal's keys."), as_json: bool = JsonOption) -> None:
    """List access keys (never their secrets): status, expiry, last use."""
    from forgeml.security import PrincipalStore

    data = [k.to_dict() for k in PrincipalStore(workspace()).list_keys(principal)]
    emit(data, as_json, lambda: print_table(f"{len(data)} key(s)", ["key_id", "principal", "status", "created", "expires", "last used"], (
        (d["key_id"], d["principal"], d["status"], _when(d["created_at"]), _when(d["expires_at"]), _when(d["last_used_at"])) for d in data
    )))  # fmt: skip


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The access key id (FKIA...)."), as_json: bool = JsonOption) -> None:
    """Revoke an access key: it answers 401 from the next request on."""
    from forgeml.security import PrincipalStore

    key = PrincipalStore(workspace()).revoke(key_id)
    emit(key.to_dict(), as_json, lambda: typer.echo(f"revoked {key.key_id} of {key.principal}"))


@app.command("put-policy")
def put_policy(
    name: str = typer.Argument(..., help="Name to store the policy under."),
    file: Path = typer.Argument(..., help="A JSON or YAML policy document.", exists=True, dir_okay=False),
) -> None:
    """Store a policy document (checked first) so it can be attached by name."""
    import yaml

    from forgeml.errors import ValidationError
    from forgeml.security import PolicyStore

    try:
        document = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ValidationError(f"{file}: not JSON or YAML ({str(exc).splitlines()[0]})") from None
    PolicyStore(workspace()).put(name, document)
    typer.echo(f"stored policy {name}")


@app.command("attach-policy")
def attach_policy(principal: str = typer.Argument(...), policy: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Attach a managed or stored policy to a principal."""
    from forgeml.security import PrincipalStore

    p = PrincipalStore(workspace()).attach(principal, policy)
    emit(p.to_dict(), as_json, lambda: typer.echo(f"{p.name}: {', '.join(p.policies)}"))


@app.command("whoami")
def whoami(key: str = KeyOption, as_json: bool = JsonOption) -> None:
    """Who a credential acts as; without one, the local workspace owner (the SDK on its folder)."""
    from forgeml.security import PrincipalStore

    credential = key or os.environ.get("FORGEML_API_KEY")
    ws = workspace()
    if not credential:
        data = {"principal": "owner", "type": "owner", "policies": ["*"], "workspace": str(ws.home)}
    else:
        p = PrincipalStore(ws).authenticate(credential)
        data = {**p.to_dict(), "principal": p.name, "key_id": credential.partition(":")[0]}
    emit(data, as_json, lambda: typer.echo(f"{data['principal']} ({data['type']}; policies: {', '.join(data['policies'])})"))


@app.command("simulate")
def simulate(
    principal: str = typer.Argument(..., help="User or service account."),
    action: str = typer.Argument(..., help="An action, e.g. models:Approve."),
    resource: str = typer.Argument(..., help="A resource path, e.g. model/loans:3."),
    source_ip: str = typer.Option(None, "--source-ip", help="forgeml:SourceIp of the simulated request."),
    secure: bool = typer.Option(False, "--secure", help="Simulate a call over TLS (forgeml:SecureTransport)."),
    as_json: bool = JsonOption,
) -> None:
    """Explain whether PRINCIPAL may do ACTION on RESOURCE, and which statements decide it."""
    from forgeml.security import PolicyStore, PrincipalStore, evaluate

    ws = workspace()
    p = PrincipalStore(ws).get_principal(principal)
    context = {"forgeml:SourceIp": source_ip, "forgeml:SecureTransport": "true" if secure else "false",
               "forgeml:PrincipalName": p.name, "forgeml:PrincipalType": p.type}  # fmt: skip
    decision = evaluate(PolicyStore(ws).statements(p.policies), action, resource, context)
    data = {"principal": p.name, "action": action, "resource": resource, "policies": p.policies, **decision.to_dict()}
    emit(data, as_json, lambda: typer.echo(f"{data['decision']}: {principal} {action} on {resource}: {decision.reason}"))
    if not decision.allowed:
        raise typer.Exit(3)
