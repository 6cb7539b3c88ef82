"""``forgeml data profile|validate|drift|pii|recipe|split``: data preparation commands.

Registered onto the ``data`` Typer app by :func:`register` (called at the bottom of
``forgeml/cli/data.py``). Only Typer is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, console, emit, print_json, print_table, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument, ref_option

VersionOption = typer.Option(None, "--version", "-v", help="Dataset version (default: latest).")


def _service() -> Any:
    from forgeml.data._prep_service import DataPrepService

    return DataPrepService(workspace())


def _text_or_file(value: str) -> str:
    """The contents of ``value`` when it names a file, else ``value`` itself."""
    from forgeml.errors import ValidationError

    if value.startswith("@") or (len(value) < 4096 and "\n" not in value and Path(value).suffix in (".yaml", ".yml", ".dqdl", ".txt", ".json")):
        path = Path(value.removeprefix("@"))
        if not path.is_file():
            raise ValidationError(f"file {path} does not exist")
        return path.read_text()
    return value


def _busy(message: str) -> Any:
    return console(stderr=True).status(message)


def profile(
    name: str = ref_argument("DATASET"),
    version: int = VersionOption,
    label: str = typer.Option(None, "--label", help="Report this column's class balance."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    bins: int = typer.Option(20, help="Histogram bins."),
    as_json: bool = JsonOption,
) -> None:
    """Profile a dataset version (DuckDB): per-column statistics, outliers, correlations, label balance."""
    with _busy(f"profiling {name}"):
        out = _service().profile(name, version, label=label, bins=bins)
    rec = out["record"]
    written = export_report(f"{rec['kind']}/{rec['name']}:{rec['version']}", html, open_)
    report = out["report"]

    def render() -> None:
        print_table(
            f"{report['dataset']}: {report['rows']} rows", ["column", "type", "missing", "distinct", "min", "max", "mean", "outliers (IQR)"],
            ((c["name"], c["type"], c["missing"], c["distinct"], _f(c.get("min")), _f(c.get("max")), _f(c.get("mean")),
              (c.get("outliers") or {}).get("iqr", {}).get("count", "")) for c in report["columns"]),
        )  # fmt: skip
        if report.get("label"):
            from forgeml.cli._table import cell_text

            typer.echo(f"label {label}: {cell_text(report['label']['counts'])} (imbalance ratio {report['label']['imbalance_ratio']:.2f})")
        typer.echo(f"stored as {rec['kind']}/{rec['name']}:{rec['version']}" + (f"; HTML at {written}" if written else ""))

    emit(report, as_json, render)


def _f(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def validate(
    name: str = ref_argument("DATASET"),
    rules: str = typer.Option(None, "--rules", "-r", help="DQDL or YAML rules, or a file holding them (@file or *.dqdl/*.yaml)."),
    version: int = VersionOption,
    clean: str = typer.Option(None, "--clean", help="Write the rows that pass every row-level rule as this dataset."),
    quarantine: bool = typer.Option(True, "--quarantine/--no-quarantine", help="Write failing rows to NAME-dq-quarantine."),
    suggest: bool = typer.Option(False, "--suggest", help="Print a DQDL ruleset the data satisfies now, then stop."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate data-quality rules (Glue DQDL); exits 1 when a rule fails."""
    from forgeml.errors import ValidationError

    svc = _service()
    if suggest:
        typer.echo(svc.suggest_rules(name, version))
        return
    if not rules:
        raise ValidationError("give --rules (DQDL text or a file), or --suggest")
    with _busy(f"validating {name}"):
        out = svc.validate(name, _text_or_file(rules), version, quarantine=quarantine, clean_name=clean)
    rec = out["record"]
    export_report(f"{rec['kind']}/{rec['name']}:{rec['version']}", html, open_)
    report = out["report"]

    def render() -> None:
        print_table(
            f"{report['dataset']}: {report['rules_passed']} passed, {report['rules_failed']} failed",
            ["outcome", "rule", "metrics", "failed rows", "message"],
            ((r["outcome"], r["rule"], ", ".join(f"{k}={_f(v)}" for k, v in r["metrics"].items()), r.get("failed_rows", ""), r["message"] or "")
             for r in report["rules"]),
        )  # fmt: skip
        for key in ("quarantine", "clean"):
            if report.get(key):
                typer.echo(f"{key}: {report[key]['rows']} row(s) in {report[key]['dataset']}")

    emit(report, as_json, render)
    if not report["passed"]:
        raise typer.Exit(1)


def drift(
    name: str = ref_argument("DATASET", help="The current side."),
    base: str = ref_option("DATASET", "--base", default=..., help="The reference side: a version of DATASET (3) or a dataset."),
    version: int = VersionOption,
    other: str = ref_option("DATASET", "--other", help="Compare with this dataset instead of a version of DATASET."),
    as_json: bool = JsonOption,
) -> None:
    """Schema and data drift: added/removed/retyped columns, new categories, shifted ranges."""
    report = _service().drift(name, base, version, other=other)

    def render() -> None:
        typer.echo(f"{report['base']} -> {report['current']}: {'drift found' if report['drifted'] else 'no drift'}")
        for line in report["findings"]:
            typer.echo(f"  - {line}")

    emit(report, as_json, render)


def pii(
    name: str = ref_argument("DATASET"),
    version: int = VersionOption,
    protect: bool = typer.Option(False, "--protect", help="Protect what was found (or apply --steps) and write a new version."),
    steps: str = typer.Option(None, "--steps", help="YAML/JSON list of protection steps, or a file holding it."),
    output: str = typer.Option(None, "--output", "-o", help="Dataset to write the protected rows to (default: NAME)."),
    as_json: bool = JsonOption,
) -> None:
    """Detect PII (emails, phones, cards, SSNs, IPs, IBANs, dates of birth); optionally protect it."""
    import yaml

    from forgeml.errors import ValidationError

    svc = _service()
    if protect or steps:
        parsed = None
        if steps:
            try:
                parsed = yaml.safe_load(_text_or_file(steps))
            except yaml.YAMLError as exc:
                raise ValidationError(f"--steps is malformed YAML: {exc}") from None
            if isinstance(parsed, dict):
                parsed = parsed.get("steps")
            if not isinstance(parsed, list):
                raise ValidationError("--steps must be a list of {column, action, ...} mappings")
        with _busy(f"protecting {name}"):
            result = svc.protect_pii(name, parsed, version, output=output)
        emit(result, as_json, lambda: print_table(
            f"{result['dataset']} -> {result['output'] or 'nothing written'}", ["column", "action", "entities", "values changed"],
            ((s["column"], s["action"], ",".join(s.get("entities") or []), s["values_changed"]) for s in result["steps"]),
        ))  # fmt: skip
        return
    with _busy(f"scanning {name}"):
        report = svc.scan_pii(name, version)["report"]

    def render() -> None:
        rows = [(c["column"], f["entity"], f["rows"], f"{f['fraction']:.1%}", "yes" if f["whole_value"] else "in text", f["example"])
                for c in report["columns"] for f in c["findings"]]  # fmt: skip
        print_table(f"{report['dataset']}: PII in {len(report['pii_columns'])} column(s)", ["column", "entity", "rows", "share", "whole value", "example"], rows)

    emit(report, as_json, render)


def recipe(
    name: str = ref_argument("DATASET"),
    spec: str = typer.Option(..., "--spec", "-s", help="Recipe YAML/JSON, or a file holding it."),
    version: int = VersionOption,
    target: str = typer.Option(None, "--target", help="Label column (excluded from inputs; used by target encoding)."),
    columns: str = typer.Option(None, "--columns", help="Comma-separated input columns (default: all but the target)."),
    out: Path = typer.Option(None, "--out", help="Write the fitted recipe JSON here."),
    as_json: bool = JsonOption,
) -> None:
    """Fit a preparation recipe on a dataset version; stores (and optionally writes) the fitted JSON."""
    import json

    import yaml

    from forgeml.errors import ValidationError

    text = _text_or_file(spec)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"--spec is malformed YAML: {exc}") from None
    with _busy(f"fitting recipe on {name}"):
        result = _service().fit_recipe(name, parsed if isinstance(parsed, dict) else text, version, target=target,
                                       columns=[c.strip() for c in columns.split(",")] if columns else None)  # fmt: skip
    if out:
        out.write_text(json.dumps(result["fitted"], indent=2))
    fitted = result["fitted"]
    emit(result, as_json, lambda: typer.echo(
        f"fitted {len(fitted['steps'])} step(s): {len(fitted['input_columns'])} input -> {len(fitted['output_columns'])} output columns"
        f" (recipe/{result['record']['name']}:{result['record']['version']})" + (f"; written to {out}" if out else "")))  # fmt: skip


def split(
    name: str = ref_argument("DATASET"),
    version: int = VersionOption,
    method: str = typer.Option("random", "--method", "-m", help="random, stratified, temporal or group."),
    fractions: str = typer.Option("0.7,0.15,0.15", "--fractions", help="2 or 3 shares summing to 1."),
    target: str = typer.Option(None, "--target", help="Stratify on this column."),
    time_column: str = typer.Option(None, "--time-column", help="Temporal split on this column."),
    cutoffs: str = typer.Option(None, "--cutoffs", help="Comma-separated cutoffs for a temporal split."),
    group_column: str = typer.Option(None, "--group-column", help="Keep each value of this column in one part."),
    prefix: str = typer.Option(None, "--prefix", help="Output datasets PREFIX-train/-validation/-test (default NAME)."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JsonOption,
) -> None:
    """Split a dataset into train/validation/test datasets."""
    from forgeml.errors import ValidationError

    try:
        shares = tuple(float(f) for f in fractions.split(","))
    except ValueError:
        raise ValidationError(f"--fractions must be numbers like 0.7,0.15,0.15, got {fractions!r}") from None
    with _busy(f"splitting {name}"):
        parts = _service().split(
            name, version, method=method, fractions=shares, prefix=prefix, seed=seed, target=target, time_column=time_column,
            group_column=group_column, cutoffs=[c.strip() for c in cutoffs.split(",")] if cutoffs else None,
        )  # fmt: skip
    data = {k: r.to_dict() for k, r in parts.items()}
    if as_json:
        print_json(data)
        return
    print_table(f"{method} split of {name}", ["part", "dataset", "rows"], ((k, r.ref, r.data["rows"]) for k, r in parts.items()))


COMMANDS = {"profile": profile, "validate": validate, "drift": drift, "pii": pii, "recipe": recipe, "split": split}


def register(app: typer.Typer) -> None:
    """Add the data-preparation commands to the ``data`` app."""
    for name, func in COMMANDS.items():
        app.command(name)(func)


__all__ = ["COMMANDS", "register"]
