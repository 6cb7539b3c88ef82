"""``forgeml endpoints``: deploy, list, update, invoke and delete real-time endpoints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument, ref_option

app = typer.Typer(help="Real-time endpoints: variants, multi-model, data capture.", no_args_is_help=True)


def _load_config(path: Path) -> dict[str, Any]:
    from forgeml.errors import ValidationError

    if not path.is_file():
        raise ValidationError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            import json

            data = json.loads(text)
    except Exception as exc:
        raise ValidationError(f"config file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"config file {path} must hold a mapping with a 'variants' list")
    return data


_UNTRUSTED_HELP = "Load only ONNX models (compiled packages) and never unpickle: for packages from elsewhere."


def _config(
    config: Path | None, model: str | None, variant: str, workers: int, capture: float | None, untrusted: bool = False
) -> dict[str, Any]:
    from forgeml.errors import ValidationError

    if config is not None:
        data = _load_config(config)
        if untrusted:
            data["trusted"] = False
        return data
    if not model:
        raise ValidationError("give --model (registry GROUP:VERSION or a package folder) or --config FILE")
    data: dict[str, Any] = {"variants": [{"name": variant, "model": model, "workers": workers}]}
    if capture is not None:
        data["data_capture"] = {"sampling_percentage": capture}
    if untrusted:
        data["trusted"] = False
    return data


def _row(d: dict[str, Any]) -> tuple[Any, ...]:
    weights = d["data"].get("weights") or {}
    variants = ", ".join(f"{v['name']}({weights.get(v['name'], v.get('weight', 1)):g})" for v in d["spec"].get("variants", []))
    return (d["name"], d["version"], d["status"], d["data"].get("url", ""), variants, short_time(d["updated_at"]))


@app.command("create")
def create(
    name: str,
    model: str = ref_option("PACKAGE", "--model", "-m"),
    config: Path = typer.Option(None, "--config", "-c", help="Endpoint config file (JSON or YAML) with variants."),
    variant: str = typer.Option("AllTraffic", help="Variant name (with --model)."),
    workers: int = typer.Option(1, help="Worker processes (with --model)."),
    capture: float = typer.Option(None, help="Capture this percentage of invocations (with --model)."),
    untrusted: bool = typer.Option(False, "--untrusted", help=_UNTRUSTED_HELP),
    as_json: bool = JsonOption,
) -> None:
    """Create an endpoint and wait until it is InService."""
    record = workspace().endpoints.create(name, _config(config, model, variant, workers, capture, untrusted))
    data = record.to_dict()
    emit(data, as_json, lambda: typer.echo(f"endpoint {name} version {record.version}: {record.status} at {record.data.get('url')}"))


app.command("deploy", help="Same as create.")(create)


@app.command("ls")
def list_endpoints(as_json: bool = JsonOption) -> None:
    """List endpoints (latest version of each)."""
    data = [r.to_dict() for r in workspace().endpoints.list()]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} endpoint(s)", ["name", "version", "status", "url", "variants", "updated"], (_row(d) for d in data)
    ))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("ENDPOINT"), as_json: bool = JsonOption) -> None:
    """Everything about an endpoint: config, status, where it serves, versions."""
    ep = workspace().endpoints
    data = ep.get(name).to_dict()
    data["versions"] = [{"version": r.version, "status": r.status} for r in ep.versions(data["name"])]

    def render() -> None:
        rows = [(k, data[k]) for k in ("name", "version", "status", "created_at", "updated_at")]
        rows += [(k, v) for k, v in data["data"].items() if k not in ("variants",)]
        rows += [("variants", data["spec"]["variants"]), ("data_capture", data["spec"].get("data_capture")), ("versions", data["versions"])]
        if data["spec"].get("shadow_variants"):
            rows.append(("shadow_variants", data["spec"]["shadow_variants"]))
        print_table(f"endpoint {data['name']}", ["field", "value"], rows)

    emit(data, as_json, render)


@app.command("update")
def update(
    name: str = ref_argument("ENDPOINT"),
    model: str = ref_option("PACKAGE", "--model", "-m"),
    config: Path = typer.Option(None, "--config", "-c", help="New endpoint config file (JSON or YAML)."),
    variant: str = typer.Option("AllTraffic", help="Variant name (with --model)."),
    workers: int = typer.Option(1, help="Worker processes (with --model)."),
    capture: float = typer.Option(None, help="Capture this percentage of invocations (with --model)."),
    untrusted: bool = typer.Option(False, "--untrusted", help=_UNTRUSTED_HELP),
    deployment_config: Path = typer.Option(
        None, "--deployment-config", help="SageMaker DeploymentConfig file (JSON or YAML): blue/green (canary, linear) or rolling, bakes, rollback alarms."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Serve a new config as the next version (Updating, then InService; no dropped traffic)."""
    dep = _load_mapping(deployment_config, "deployment config") if deployment_config is not None else None
    record = workspace().endpoints.update(name, _config(config, model, variant, workers, capture, untrusted), deployment_config=dep)
    last = record.data.get("last_deployment") or {}
    if dep is not None and last.get("status") == "RolledBack":
        text = f"endpoint {name}: deployment of version {last.get('version')} rolled back ({last.get('reason')}); version {record.version} is {record.status}"
    else:
        text = f"endpoint {name} version {record.version}: {record.status} at {record.data.get('url')}"
    emit(record.to_dict(), as_json, lambda: typer.echo(text))


def _load_mapping(path: Path, what: str) -> dict[str, Any]:
    from forgeml.errors import ValidationError

    if not path.is_file():
        raise ValidationError(f"{what} file {path} does not exist")
    import yaml

    try:
        data = yaml.safe_load(path.read_text())  # YAML reads JSON too
    except yaml.YAMLError as exc:
        raise ValidationError(f"{what} file {path} is not valid JSON or YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{what} file {path} must hold a mapping")
    return data


def _clock(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-4]


@app.command("deployment")
def deployment(name: str = ref_argument("ENDPOINT"), as_json: bool = JsonOption) -> None:
    """The endpoint's latest deployment: its state and each step with its times."""
    record = workspace().endpoints.deployment(name)

    def table() -> None:
        reason = record.data.get("reason")
        typer.echo(f"deployment of {record.name} version {record.version} (from version {record.data.get('blue_version')}): {record.status}"
                   + (f" - {reason}" if reason else ""))  # fmt: skip
        rows = [(s["step"], _clock(s["started_at"]), _clock(s["ended_at"]) if s.get("ended_at") else "-",
                 f"{s['ended_at'] - s['started_at']:.1f}s" if s.get("ended_at") else "-") for s in record.data.get("steps", [])]  # fmt: skip
        print_table("steps", ["step", "started", "ended", "took"], rows)

    emit(record.to_dict(), as_json, table)


@app.command("update-weights")
def update_weights(
    name: str = ref_argument("ENDPOINT"),
    weights: list[str] = typer.Argument(..., help="VARIANT=WEIGHT pairs, e.g. champion=9 challenger=1."),
    as_json: bool = JsonOption,
) -> None:
    """Change traffic weights without a new version (A/B testing)."""
    from forgeml.errors import ValidationError

    parsed: dict[str, float] = {}
    for item in weights:
        variant, sep, value = item.partition("=")
        try:
            parsed[variant] = float(value) if sep else float("nan")
        except ValueError:
            parsed[variant] = float("nan")
        if not sep or parsed[variant] != parsed[variant]:
            raise ValidationError(f"bad weight {item!r}: use VARIANT=NUMBER")
    record = workspace().endpoints.update_weights(name, parsed)
    from forgeml.cli._table import cell_text

    emit(record.to_dict(), as_json, lambda: typer.echo(f"endpoint {name}: weights {cell_text(record.data['weights'])}"))


@app.command("invoke")
def invoke(
    name: str = ref_argument("ENDPOINT"),
    file: Path = typer.Option(None, "--file", "-f", help="Request body file; '-' or absent reads stdin."),
    content_type: str = typer.Option(None, "--content-type", help="Default: text/csv for .csv files, else application/json."),
    accept: str = typer.Option(None, help="Response type: application/json, text/csv or application/jsonlines."),
    target_variant: str = typer.Option(None, help="Send to this variant (X-Amzn-SageMaker-Target-Variant)."),
    target_model: str = typer.Option(None, help="Multi-model target (X-Amzn-SageMaker-Target-Model)."),
    custom_attributes: str = typer.Option(None, help="X-Amzn-SageMaker-Custom-Attributes."),
    inference_id: str = typer.Option(None, help="X-Amzn-SageMaker-Inference-Id."),
    show_variant: bool = typer.Option(False, "--show-variant", help="Print the invoked variant on stderr."),
) -> None:
    """Invoke an endpoint with a body from a file or stdin; print the response body."""
    if file is None or str(file) == "-":
        body = sys.stdin.buffer.read()
    else:
        from forgeml.errors import ValidationError

        if not file.is_file():
            raise ValidationError(f"request file {file} does not exist")
        body = file.read_bytes()
    if content_type is None:
        content_type = "text/csv" if file is not None and file.suffix == ".csv" else "application/json"
    result = workspace().endpoints.invoke(
        name, body, content_type=content_type, accept=accept, target_variant=target_variant,
        target_model=target_model, custom_attributes=custom_attributes, inference_id=inference_id,
    )  # fmt: skip
    sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
    if show_variant:
        typer.echo(f"invoked variant: {result.variant}", err=True)


@app.command("delete")
def delete(name: str = ref_argument("ENDPOINT")) -> None:
    """Stop the endpoint's servers and delete it."""
    workspace().endpoints.delete(name)
    typer.echo(f"endpoint {name}: deleted")


@app.command("logs")
def logs(name: str = ref_argument("ENDPOINT"), version: int = typer.Option(None, help="A version other than the latest.")) -> None:
    """Print the endpoint server's log."""
    for line in workspace().endpoints.logs(name, version):
        typer.echo(line)


from forgeml.cli.async_ import register as _register_async  # noqa: E402 - the async commands join this group

_register_async(app)
