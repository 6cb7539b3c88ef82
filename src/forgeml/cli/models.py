"""``forgeml models``: the model registry (groups, versions, approval, aliases, compile, MLflow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument, ref_option

app = typer.Typer(help="Model registry: register, approve, alias, compile, MLflow import/export.", no_args_is_help=True)


def _version(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


# the positional VERSION after MODEL: the older spelling of MODEL:VERSION, still accepted
VersionArg = typer.Argument(None, metavar="VERSION", help="Version, alias, 'latest' or 'approved' (same as MODEL:VERSION).")


def _json_arg(text: str | None, what: str) -> dict[str, Any] | None:
    from forgeml.errors import ValidationError

    if text is None:
        return None
    try:
        if text.startswith("@"):
            with open(text[1:]) as fh:
                value = json.load(fh)
        else:
            value = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{what}: not JSON or a readable @file: {exc}") from None
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object")
    return value


def _row(v: dict[str, Any]) -> tuple[Any, ...]:
    return (v["version"], v["status"], v["spec"]["flavor"], v["spec"]["algorithm"], ",".join(v.get("aliases", [])),
            (v["data"].get("approval") or {}).get("by"), short_time(v["created_at"]))  # fmt: skip


@app.command("register")
def register(
    group: str,
    package: str = typer.Argument(None, help="A local model package folder."),
    training_job: str = ref_option("JOB", "--training-job", help="Register the model of this Completed training job."),
    artifact: str = ref_option("ARTIFACT", "--artifact", help="Register the package stored under this digest."),
    description: str = typer.Option(None, help="Free text kept with the version."),
    metadata: str = typer.Option(None, help="Customer metadata as JSON or @file.json."),
    model_card: str = typer.Option(None, "--model-card", help="Model card as JSON or @file.json."),
    as_json: bool = JsonOption,
) -> None:
    """Register a package as the next version of GROUP (created if missing)."""
    record = workspace().registry.register(
        group, package, training_job=training_job, artifact=artifact, description=description,
        metadata=_json_arg(metadata, "--metadata"), model_card=_json_arg(model_card, "--model-card"),
    )  # fmt: skip
    emit(record.to_dict(), as_json, lambda: typer.echo(f"registered {record.ref} ({record.status})"))


@app.command("ls")
def list_groups(as_json: bool = JsonOption) -> None:
    """List model package groups."""
    ws = workspace()
    data = []
    for g in ws.registry.list_groups():
        versions = ws.registry.versions(g.name)
        data.append({**g.to_dict(), "versions": len(versions), "latest": versions[0].version if versions else None,
                     "approved": next((v.version for v in versions if v.status == "Approved"), None)})  # fmt: skip
    emit(data, as_json, lambda: print_table(
        f"{len(data)} model package group(s)", ["group", "versions", "latest", "latest approved", "aliases", "created"],
        ((d["name"], d["versions"], d["latest"], d["approved"], d["data"].get("aliases"), short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


@app.command("versions")
def versions(group: str = ref_argument("MODEL", help="The model package group."),
             status: str = typer.Option(None, help="Only this approval status."), as_json: bool = JsonOption) -> None:  # fmt: skip
    """List a group's versions, newest first."""
    ws = workspace()
    data = [ws.registry.describe(group, v.version) for v in ws.registry.versions(group, approval_status=status)]
    emit(data, as_json, lambda: print_table(
        f"model package group {group}", ["version", "approval", "flavor", "algorithm", "aliases", "by", "created"], (_row(d) for d in data)
    ))  # fmt: skip


@app.command("show")
def show(group: str = ref_argument("MODEL"), version: str = VersionArg, html: Path = HtmlOption, open_: bool = OpenOption,
         as_json: bool = JsonOption) -> None:  # fmt: skip
    """Everything about one version (--html / --open: its compile report, for a compiled version)."""
    from forgeml.registry.package import loading_notice

    ws = workspace()
    data = ws.registry.describe(group, _version(version))
    export_report(data["ref"], html, open_)

    def render() -> None:
        spec, d = data["spec"], data["data"]
        rows = [("ref", data["ref"]), ("approval", data["status"]), ("approved/rejected by", (d.get("approval") or {}).get("by")),
                ("reason", (d.get("approval") or {}).get("reason")), ("aliases", ", ".join(data["aliases"])),
                ("flavor", spec["flavor"]), ("task", spec["task"]), ("algorithm", spec["algorithm"]),
                ("inputs", ", ".join(c["name"] for c in spec["inputs"])), ("metrics", spec["metrics"]),
                ("package", spec["package"]), ("source", spec["source"]),
                ("loading", spec.get("loading") or loading_notice(spec["flavor"])), ("metadata", d.get("metadata")),
                ("model card", "yes" if d.get("model_card") else "no"), ("compilation", d.get("compilation")),
                ("created", short_time(data["created_at"]))]  # fmt: skip
        print_table(f"model {data['ref']}", ["field", "value"], rows)

    emit(data, as_json, render)


def _set(group: str, version: str, status: str, by: str | None, reason: str | None) -> None:
    record = workspace().registry.set_approval(group, _version(version), status, by=by, reason=reason)  # type: ignore[arg-type]
    typer.echo(f"{record.ref}: {record.status}")


@app.command("approve")
def approve(group: str = ref_argument("MODEL"), version: str = VersionArg, by: str = typer.Option(None, help="Who approves (default: OS user)."),
            reason: str = typer.Option(None, help="Why.")) -> None:  # fmt: skip
    """Approve a version (PendingManualApproval -> Approved)."""
    _set(group, version, "Approved", by, reason)


@app.command("reject")
def reject(group: str = ref_argument("MODEL"), version: str = VersionArg, by: str = typer.Option(None, help="Who rejects (default: OS user)."),
           reason: str = typer.Option(None, help="Why.")) -> None:  # fmt: skip
    """Reject a version (from PendingManualApproval or Approved; final)."""
    _set(group, version, "Rejected", by, reason)


@app.command("alias")
def alias(
    group: str = ref_argument("MODEL", help="The version the alias is to point at (loans:3), or the group (with VERSION)."),
    name: str = typer.Argument(..., help="The alias, e.g. champion."),
    version: str = typer.Argument(None, help="The version the alias points at, when MODEL names none."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
) -> None:
    """Point an alias (e.g. champion) at a version, or --delete it."""
    ws = workspace()
    from forgeml.core.refs import parse_ref
    from forgeml.errors import ValidationError

    ref = parse_ref(group, "model", version=_version(version))
    if delete:
        ws.registry.remove_alias(ref.name, name)
        typer.echo(f"removed alias {name} of {ref.name}")
        return
    if ref.selector is None:
        raise ValidationError(f"give the version alias {name!r} points at: {ref.name}:VERSION (or --delete)")
    aliases = ws.registry.set_alias(ref.name, name, ref.selector)
    typer.echo(f"{ref.name}@{name} -> version {aliases[name]}")


@app.command("compile")
def compile_version(
    group: str = ref_argument("MODEL"),
    version: str = VersionArg,
    holdout: str = ref_option("DATA", "--holdout", default=..., help="Held-out rows to check the compiled model on."),
    quantize: bool = typer.Option(False, help="Dynamic int8 quantization after conversion."),
    quantize_static: bool = typer.Option(False, "--quantize-static", help="Static int8 quantization (weights and activations), calibrated on the holdout."),
    tolerance: float = typer.Option(None, help="Largest accepted deviation (default 1e-4; 0.05 quantized)."),
    prune: float = typer.Option(None, help="PyTorch models: zero this share (0 <= s < 1) of the smallest weights first."),
    accuracy_tolerance: float = typer.Option(None, help="Largest accepted accuracy drop when pruning/quantizing (default 0.02)."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Compile a version to ONNX, check it against the original, register it as a new version."""
    from forgeml.cli._common import console

    with console(stderr=True).status(f"compiling {group}:{version or 'latest'} to ONNX ..."):
        record = workspace().registry.compile(group, _version(version), holdout=holdout, quantize="static" if quantize_static else quantize, tolerance=tolerance,
                                           prune=prune, accuracy_tolerance=accuracy_tolerance)
    report = record.data["compilation"]
    export_report(record, html, open_)

    def render() -> None:
        b, a = report["before"], report["after"]
        print_table(f"compiled {record.ref} from {record.spec['source']['value']}", ["", "before", "after"], [
            ("model bytes", report["size_bytes"]["before"], report["size_bytes"]["after"]),
            ("single row (ms)", b["single_row_ms"], a["single_row_ms"]),
            ("batch rows/s", b["batch_rows_per_second"], a["batch_rows_per_second"]),
            ("max deviation", "", f"{report['max_abs_deviation']:.3g} (tolerance {report['tolerance']:g}, {report['rows_checked']} rows)"),
            *([(report["accuracy"]["metric"], f"{report['accuracy']['before']:.4g}", f"{report['accuracy']['after']:.4g}")] if "accuracy" in report else []),
            *([("sparsity", "", f"{report['pruning']['sparsity']:.3f}")] if "pruning" in report else []),
        ])  # fmt: skip

    emit({"ref": record.ref, **report}, as_json, render)


@app.command("export-mlflow")
def export_mlflow(
    group: str = ref_argument("MODEL"),
    dest: str = typer.Argument(..., metavar="DEST", help="The folder to write."),
    legacy_dest: str = typer.Argument(None, hidden=True),
) -> None:
    """Write a version as an MLflow pyfunc model folder DEST (`MODEL VERSION DEST` also works)."""
    version, dest = (dest, legacy_dest) if legacy_dest is not None else (None, dest)
    ws = workspace()
    record = ws.registry.get(group, _version(version))
    path = ws.registry.export_mlflow(record.name, record.version, dest)
    typer.echo(f"exported {record.ref} to {path}")


@app.command("import-mlflow")
def import_mlflow(
    src: str,
    group: str,
    task: str = typer.Option(None, help="binary, multiclass or regression (needed for generic pyfunc models)."),
    description: str = typer.Option(None),
) -> None:
    """Register an MLflow model folder (sklearn flavor, a ForgeML export, or a pyfunc model)."""
    record = workspace().registry.import_mlflow(src, group, task=task, description=description)
    typer.echo(f"registered {record.ref} from {src}")


@app.command("download")
def download(group: str = ref_argument("MODEL"), version: str = VersionArg, dest: str = typer.Option(None, help="Target folder.")) -> None:
    """Copy a version's package (verified) to a local folder and print its path."""
    typer.echo(str(workspace().registry.download(group, _version(version), dest)))


@app.command("events")
def events(group: str = ref_argument("MODEL", help="A version, or the whole group when none is named."), version: str = VersionArg,
           as_json: bool = JsonOption) -> None:  # fmt: skip
    """Every change of a version (or of the whole group)."""
    data = [e.to_dict() for e in workspace().registry.events(group, _version(version))]
    emit(data, as_json, lambda: print_table(
        f"events of {group}", ["time", "resource", "type", "data"],
        ((short_time(d["time"]), d["resource"], d["type"], d["data"]) for d in data),
    ))  # fmt: skip


@app.command("delete")
def delete(
    group: str = ref_argument("MODEL", help="The version to delete: loans:3, loans@old (or the group, with VERSION)."),
    version: str = VersionArg,
    reason: str = typer.Option(None, help="Why (recorded with the deletion)."),
    by: str = typer.Option(None, help="Who deletes it (default: OS user)."),
    as_json: bool = JsonOption,
) -> None:
    """Delete one model version: gone from listings and references, kept as a tombstone for lineage.

    Refused (exit 6) while an alias points to it or an endpoint or running job uses it. The
    package is released; `forgeml artifacts gc` reclaims the space.
    """
    rec = workspace().registry.delete(group, _version(version), by=by, reason=reason)
    emit(rec.to_dict(), as_json, lambda: typer.echo(f"deleted {rec.ref} (lineage and events kept; `forgeml artifacts gc` frees its package)"))
