"""``forgeml scaling``: autoscaling of endpoint variants (docs/autoscaling.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace
from forgeml.cli._refs import ref_argument

app = typer.Typer(
    help="Autoscaling of endpoint variants: bounds, target tracking, step scaling, schedules, activity.",
    no_args_is_help=True,
)
VariantOption: Any = typer.Option("AllTraffic", "--variant", "-v", help="The production variant.")


def _clock(t: float | None) -> str:
    return "-" if not t else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("register")
def register(
    endpoint: str = ref_argument("ENDPOINT"),
    variant: str = VariantOption,
    min_capacity: int = typer.Option(..., "--min", min=0, max=64, help="MinCapacity (0 only for async endpoints)."),
    max_capacity: int = typer.Option(..., "--max", min=1, max=64, help="MaxCapacity."),
    suspend_in: bool = typer.Option(False, "--suspend-scale-in", help="DynamicScalingInSuspended."),
    suspend_out: bool = typer.Option(False, "--suspend-scale-out", help="DynamicScalingOutSuspended."),
    suspend_scheduled: bool = typer.Option(False, "--suspend-scheduled", help="ScheduledScalingSuspended."),
    as_json: bool = JsonOption,
) -> None:
    """Register (or update) a variant's scalable target: the bounds of its instance count."""
    ws = workspace()
    out = ws.scaling.register_target({
        "resource_id": ws.scaling.rid(endpoint, variant), "min_capacity": min_capacity, "max_capacity": max_capacity,
        "dynamic_scaling_in_suspended": suspend_in, "dynamic_scaling_out_suspended": suspend_out,
        "scheduled_scaling_suspended": suspend_scheduled,
    })  # fmt: skip
    emit(out, as_json, lambda: typer.echo(f"{out['resource_id']}: [{min_capacity}, {max_capacity}], now {out['current_capacity']}"))


@app.command("deregister")
def deregister(endpoint: str = ref_argument("ENDPOINT"), variant: str = VariantOption, as_json: bool = JsonOption) -> None:
    """Forget a variant's target with its policies and scheduled actions."""
    ws = workspace()
    rid = ws.scaling.rid(endpoint, variant)
    ws.scaling.deregister_target(rid)
    emit({"deregistered": rid}, as_json, lambda: typer.echo(f"deregistered {rid}"))


@app.command("show")
def show(endpoint: str = ref_argument("ENDPOINT"), as_json: bool = JsonOption) -> None:
    """An endpoint's instance counts, targets, policies and scheduled actions."""
    out = workspace().scaling.describe(endpoint)

    def table() -> None:
        print_table("targets", ["variant", "now", "min", "max", "suspended"], [
            (t["variant"], t["current_capacity"], t["min_capacity"], t["max_capacity"],
             ",".join(k.split("_")[1] for k in ("dynamic_scaling_in_suspended", "dynamic_scaling_out_suspended",
                                                  "scheduled_scaling_suspended") if t[k]) or "-")
            for t in out["targets"]])  # fmt: skip
        print_table("policies", ["name", "variant", "type", "rule"], [
            (p["name"], p["resource_id"].rsplit("/", 1)[1], p["policy_type"], _rule(p)) for p in out["policies"]])  # fmt: skip
        print_table("scheduled actions", ["name", "variant", "schedule", "min", "max", "last fired"], [
            (a["name"], a["resource_id"].rsplit("/", 1)[1], a["schedule"], a.get("min_capacity", "-"), a.get("max_capacity", "-"),
             _clock(a.get("last_fire"))) for a in out["scheduled_actions"]])  # fmt: skip

    emit(out, as_json, table)


def _rule(policy: dict[str, Any]) -> str:
    if policy.get("target_tracking"):
        tt = policy["target_tracking"]
        return f"{tt['metric']} at {tt['target_value']:g} (cooldowns in {tt['scale_in_cooldown']:g}s, out {tt['scale_out_cooldown']:g}s)"
    st = policy["step_scaling"]
    return f"alarm {st['alarm']}: {st['adjustment_type']} in {len(st['steps'])} step(s), cooldown {st['cooldown']:g}s"


@app.command("put-policy")
def put_policy(
    endpoint: str = ref_argument("ENDPOINT"),
    policy: str = typer.Argument(..., metavar="POLICY", help="The policy's name."),
    file: Path = typer.Option(None, "--file", "-f", help="Policy (JSON or YAML): policy_type and target_tracking or step_scaling."),
    variant: str = VariantOption,
    metric: str = typer.Option(None, help="Target tracking: SageMakerVariantInvocationsPerInstance, CPUUtilization, ModelLatency, ApproximateBacklogSizePerInstance."),
    target: float = typer.Option(None, help="Target tracking: the value to hold the metric at."),
    scale_in_cooldown: float = typer.Option(300.0, min=0, help="Seconds."),
    scale_out_cooldown: float = typer.Option(300.0, min=0, help="Seconds."),
    as_json: bool = JsonOption,
) -> None:
    """Create or replace a scaling policy: target tracking from the options, anything from --file."""
    from forgeml.cli.endpoints import _load_mapping
    from forgeml.errors import ValidationError

    ws = workspace()
    if file is not None:
        body = _load_mapping(file, "scaling policy")
    elif metric is not None and target is not None:
        body = {"policy_type": "TargetTrackingScaling", "target_tracking": {
            "metric": metric, "target_value": target, "scale_in_cooldown": scale_in_cooldown, "scale_out_cooldown": scale_out_cooldown}}  # fmt: skip
    else:
        raise ValidationError("give --file, or --metric and --target for a target-tracking policy")
    out = ws.scaling.put_policy({**body, "name": policy, "resource_id": ws.scaling.rid(endpoint, variant)})
    emit(out, as_json, lambda: typer.echo(f"policy {policy} on {out['resource_id']}: {_rule(out)}"))


@app.command("delete-policy")
def delete_policy(endpoint: str = ref_argument("ENDPOINT"), policy: str = typer.Argument(..., metavar="POLICY"),
                  variant: str = VariantOption, as_json: bool = JsonOption) -> None:  # fmt: skip
    """Delete a scaling policy."""
    ws = workspace()
    ws.scaling.delete_policy(ws.scaling.rid(endpoint, variant), policy)
    emit({"deleted": policy}, as_json, lambda: typer.echo(f"deleted policy {policy}"))


@app.command("schedule")
def schedule(
    endpoint: str = ref_argument("ENDPOINT"),
    action: str = typer.Argument(..., metavar="ACTION", help="The scheduled action's name."),
    when: str = typer.Option(..., "--schedule", help="at(yyyy-mm-ddThh:mm:ss), rate(5 minutes) or cron(Min Hour DoM Month DoW Year)."),
    variant: str = VariantOption,
    min_capacity: int = typer.Option(None, "--min", min=0, max=64, help="New MinCapacity."),
    max_capacity: int = typer.Option(None, "--max", min=1, max=64, help="New MaxCapacity."),
    timezone: str = typer.Option("UTC", help="IANA time zone of at() and cron()."),
    as_json: bool = JsonOption,
) -> None:
    """Create or replace a scheduled action: new bounds at the scheduled times."""
    ws = workspace()
    body = {"name": action, "resource_id": ws.scaling.rid(endpoint, variant), "schedule": when, "timezone": timezone,
            "min_capacity": min_capacity, "max_capacity": max_capacity}  # fmt: skip
    out = ws.scaling.put_scheduled_action({k: v for k, v in body.items() if v is not None})
    emit(out, as_json, lambda: typer.echo(f"scheduled action {action}: {when}"))


@app.command("delete-schedule")
def delete_schedule(endpoint: str = ref_argument("ENDPOINT"), action: str = typer.Argument(..., metavar="ACTION"),
                    variant: str = VariantOption, as_json: bool = JsonOption) -> None:  # fmt: skip
    """Delete a scheduled action."""
    ws = workspace()
    ws.scaling.delete_scheduled_action(ws.scaling.rid(endpoint, variant), action)
    emit({"deleted": action}, as_json, lambda: typer.echo(f"deleted scheduled action {action}"))


@app.command("set-capacity")
def set_capacity(
    endpoint: str = ref_argument("ENDPOINT"),
    count: int = typer.Argument(..., min=0, max=64, help="The variant's instance count (worker processes)."),
    variant: str = VariantOption,
    as_json: bool = JsonOption,
) -> None:
    """Set a variant's instance count now; returns once the workers serve (no request fails)."""
    ws = workspace()
    act = ws.scaling.set_capacity(ws.endpoints.get(endpoint).name, variant, count)
    emit(act.to_dict(), as_json, lambda: typer.echo(f"{act.resource_id}: {act.from_capacity} -> {act.to_capacity}"))


@app.command("activity")
def activity(
    endpoint: str = ref_argument("ENDPOINT"),
    variant: str = typer.Option(None, "--variant", "-v", help="Only this variant's."),
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """Scaling activities, newest first: each decision, its cause and its outcome."""
    acts = workspace().scaling.endpoint_activities(endpoint, variant, limit)
    emit([a.to_dict() for a in acts], as_json, lambda: print_table("scaling activity", ["started", "variant", "from", "to", "status", "cause"], [
        (_clock(a.started_at), a.resource_id.rsplit("/", 1)[1], a.from_capacity, a.to_capacity, a.status, a.cause) for a in acts]))  # fmt: skip


@app.command("tick")
def tick(as_json: bool = JsonOption) -> None:
    """Run one round of the scaling loop now (``forgeml server`` runs it every few seconds)."""
    acts = workspace().scaling.tick()
    emit([a.to_dict() for a in acts], as_json, lambda: typer.echo(f"{len(acts)} scaling activit{'y' if len(acts) == 1 else 'ies'} begun"))
