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
def attach_policy(
    principal: str = typer.Argument(..., help="The user or service account (a group or role with --group / --role)."),
    policy: str = typer.Argument(...),
    to_group: bool = typer.Option(False, "--group", help="PRINCIPAL names a group."),
    to_role: bool = typer.Option(False, "--role", help="PRINCIPAL names a role."),
    as_json: bool = JsonOption,
) -> None:
    """Attach a managed or stored policy to a principal, a group or a role."""
    from forgeml.errors import ValidationError
    from forgeml.security import PrincipalStore
    from forgeml.security._roles import RoleStore

    if to_group and to_role:
        raise ValidationError("--group and --role: give at most one")
    if to_group or to_role:
        kind = "group" if to_group else "role"
        held = RoleStore(workspace()).attach(kind, principal, policy)
        data = {"name": principal, "kind": kind, "policies": held}
        emit(data, as_json, lambda: typer.echo(f"{data['kind']} {principal}: {', '.join(held)}"))
        return
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
    from forgeml.security import PrincipalStore, evaluate
    from forgeml.security._roles import identity_policies

    ws = workspace()
    p = PrincipalStore(ws).get_principal(principal)
    context = {"forgeml:SourceIp": source_ip, "forgeml:SecureTransport": "true" if secure else "false",
               "forgeml:PrincipalName": p.name, "forgeml:PrincipalType": p.type}  # fmt: skip
    decision = evaluate(identity_policies(ws, p), action, resource, context)
    data = {"principal": p.name, "action": action, "resource": resource, "policies": p.policies, **decision.to_dict()}
    emit(data, as_json, lambda: typer.echo(f"{data['decision']}: {principal} {action} on {resource}: {decision.reason}"))
    if not decision.allowed:
        raise typer.Exit(3)


@app.command("create-group")
def create_group(
    name: str = typer.Argument(..., help="Group name."),
    policy: list[str] = typer.Option([], "--policy", help="Attach this policy; repeatable."),
    as_json: bool = JsonOption,
) -> None:
    """Add a group: its members act with its policies as well as their own."""
    from forgeml.security._roles import RoleStore

    g = RoleStore(workspace()).create_group(name, policy)
    emit(g.to_dict(), as_json, lambda: typer.echo(f"created group {g.name} (policies: {', '.join(g.policies) or 'none'})"))


@app.command("add-to-group")
def add_to_group(group: str = typer.Argument(...), principal: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Put a user or service account in a group."""
    from forgeml.security._roles import RoleStore

    g = RoleStore(workspace()).add_member(group, principal)
    emit(g.to_dict(), as_json, lambda: typer.echo(f"group {g.name}: {', '.join(g.members)}"))


@app.command("remove-from-group")
def remove_from_group(group: str = typer.Argument(...), principal: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Take a user or service account out of a group."""
    from forgeml.security._roles import RoleStore

    g = RoleStore(workspace()).remove_member(group, principal)
    emit(g.to_dict(), as_json, lambda: typer.echo(f"group {g.name}: {', '.join(g.members) or 'no members'}"))


@app.command("groups")
def list_groups(as_json: bool = JsonOption) -> None:
    """List groups, their policies and members."""
    from forgeml.security._roles import RoleStore

    data = [g.to_dict() for g in RoleStore(workspace()).list_groups()]
    emit(data, as_json, lambda: print_table(f"{len(data)} group(s)", ["name", "policies", "members"],
                                            ((d["name"], ", ".join(d["policies"]), ", ".join(d["members"])) for d in data)))  # fmt: skip


@app.command("create-role")
def create_role(
    name: str = typer.Argument(..., help="Role name."),
    trust: Path = typer.Option(None, "--trust", help="Trust policy (JSON or YAML): who may assume the role.", exists=True, dir_okay=False),
    trust_principal: list[str] = typer.Option([], "--trust-principal", help="Trust this user or service account (shorthand for a one-statement trust policy); repeatable."),
    policy: list[str] = typer.Option([], "--policy", help="Attach this policy; repeatable."),
    max_session_seconds: int = typer.Option(3600, "--max-session-seconds", help="Longest session (3600-43200 s)."),
    as_json: bool = JsonOption,
) -> None:
    """Add a role: policies a trusted principal acts with for a limited time after assume-role."""
    import yaml

    from forgeml.errors import ValidationError
    from forgeml.security._roles import ASSUME, RoleStore

    if (trust is None) == (not trust_principal):
        raise ValidationError("give exactly one of --trust FILE and --trust-principal NAME")
    if trust is not None:
        try:
            document = yaml.safe_load(trust.read_text())
        except yaml.YAMLError as exc:
            raise ValidationError(f"{trust}: not JSON or YAML ({str(exc).splitlines()[0]})") from None
    else:
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"ForgeML": trust_principal}, "Action": ASSUME}]}
    r = RoleStore(workspace()).create_role(name, document, policy, max_session_seconds=max_session_seconds)
    emit(r.to_dict(), as_json, lambda: typer.echo(f"created role {r.name} (policies: {', '.join(r.policies) or 'none'})"))


@app.command("roles")
def list_roles(as_json: bool = JsonOption) -> None:
    """List roles, their policies and longest session."""
    from forgeml.security._roles import RoleStore

    data = [r.to_dict() for r in RoleStore(workspace()).list_roles()]
    emit(data, as_json, lambda: print_table(f"{len(data)} role(s)", ["name", "policies", "max session (s)"],
                                            ((d["name"], ", ".join(d["policies"]), d["max_session_seconds"]) for d in data)))  # fmt: skip


@app.command("assume-role")
def assume_role(
    role: str = typer.Argument(..., help="The role to act as."),
    key: str = KeyOption,
    session_name: str = typer.Option(None, "--session-name", help="Names the session in the audit trail (default: the caller)."),
    duration_seconds: int = typer.Option(3600, "--duration-seconds", help="How long the credentials last (900 s to the role's max)."),
    as_json: bool = JsonOption,
) -> None:
    """Temporary credentials for ROLE, if its trust policy lets the caller's key assume it."""
    from forgeml.errors import ForbiddenError, UnauthenticatedError
    from forgeml.security import AuditLog, PrincipalStore
    from forgeml.security._roles import ASSUME, RoleStore

    credential = key or os.environ.get("FORGEML_API_KEY")
    if not credential:
        raise UnauthenticatedError("assume-role acts for a principal: give --key AKID:SECRET or set FORGEML_API_KEY")
    ws = workspace()
    caller = PrincipalStore(ws).authenticate(credential)
    audit = {"principal": caller.name, "action": ASSUME, "resource": f"role/{role}", "source": "cli", "request_id": "cli"}
    try:
        made = RoleStore(ws).assume_role(caller, role, session_name=session_name, duration_seconds=duration_seconds)
    except ForbiddenError as exc:
        AuditLog(ws).append(outcome="Denied", detail=exc.message, **audit)
        raise
    AuditLog(ws).append(outcome="Allowed", detail=f"session {made.session_name} until {_when(made.expires_at)}", **audit)
    data = made.to_dict()
    emit(data, as_json, lambda: typer.echo(
        f"{data['principal']} until {_when(made.expires_at)} UTC\ncredential (shown once): {made.credential}"
    ))  # fmt: skip
