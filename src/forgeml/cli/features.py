"""``forgeml features``: feature groups, records, offline SQL and training sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import (
    JsonOption,
    console,
    emit,
    print_json,
    print_table,
    short_time,
    workspace,
)
from forgeml.cli._refs import ref_argument, ref_option

app = typer.Typer(help="Feature store: feature groups, online records, offline SQL, training sets.", no_args_is_help=True)


def _json_arg(text: str, what: str) -> Any:
    from forgeml.errors import ValidationError

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc.msg} at column {exc.colno}") from None


def _read_frame(path: Path) -> Any:
    import pandas as pd

    from forgeml.core.workspace_guard import check_path
    from forgeml.errors import ValidationError

    check_path(path, workspace().settings)
    if not path.is_file():
        raise ValidationError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return pd.read_json(path, lines=suffix != ".json")
    raise ValidationError(f"file {path}: unsupported format {suffix!r} (use .parquet, .csv or .jsonl)")


def _frame_out(frame: Any, as_json: bool, title: str, limit: int = 50) -> None:
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    emit(records, as_json, lambda: print_table(
        f"{title} ({len(frame)} rows{', first ' + str(limit) if len(frame) > limit else ''})",
        [str(c) for c in frame.columns], (list(r.values()) for r in records[:limit]),
    ))  # fmt: skip


@app.command("create")
def create(
    name: str,
    record_id: str = typer.Option(..., "--record-id", help="Record identifier feature."),
    event_time: str = typer.Option(..., "--event-time", help="Event time feature."),
    feature: list[str] = typer.Option(None, "--feature", "-f", help="NAME:TYPE (Integral, Fractional, String, Timestamp); repeatable."),
    from_dataset: str = ref_option("DATASET", "--from-dataset", help="Infer the definitions from this dataset."),
    ttl: str = typer.Option(None, "--ttl", help="Online TTL, e.g. 3600, 90m, 7d."),
    description: str = typer.Option(None, help="Free text."),
    tag: list[str] = typer.Option(None, "--tag", help="KEY=VALUE; repeatable."),
    offline_only: bool = typer.Option(False, "--offline-only", help="No online store."),
    partition: str = typer.Option("day", "--partition", help="Offline partition by event day, month or year."),
    as_json: bool = JsonOption,
) -> None:
    """Create a feature group (version 1)."""
    from forgeml.errors import ValidationError

    ws = workspace()
    features: Any = list(feature or [])
    if from_dataset:
        features = ws.datasets.read(from_dataset).head(100)
    elif not features:
        raise ValidationError("give --feature NAME:TYPE options or --from-dataset")
    tags = dict(t.split("=", 1) for t in (tag or []) if "=" in t)
    group = ws.features.create_group(
        name, record_identifier=record_id, event_time_feature=event_time, features=features, online_ttl=ttl,
        description=description, tags=tags, online_enabled=not offline_only, offline_partition=partition,
    )  # fmt: skip
    emit(group.to_dict(), as_json, lambda: typer.echo(f"created {group.ref} with {len(group.features)} features"))


@app.command("add-features")
def add_features(name: str = ref_argument("FEATURE_GROUP"), feature: list[str] = typer.Option(..., "--feature", "-f", help="NAME:TYPE; repeatable."),
                 as_json: bool = JsonOption) -> None:  # fmt: skip
    """Add features: makes the next version (a feature's type cannot change)."""
    group = workspace().features.add_features(name, list(feature))
    emit(group.to_dict(), as_json, lambda: typer.echo(f"created {group.ref}"))


@app.command("ls")
def list_groups(as_json: bool = JsonOption) -> None:
    """List feature groups (latest versions)."""
    data = [g.to_dict() for g in workspace().features.list_groups()]
    emit(data, as_json, lambda: print_table(f"{len(data)} feature group(s)", ["name", "version", "record id", "event time", "features", "ttl s", "created"],
        ((d["name"], d["version"], d["record_identifier"], d["event_time_feature"], len(d["features"]),
          d["online_ttl_seconds"], short_time(d["created_at"])) for d in data)))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("FEATURE_GROUP"), as_json: bool = JsonOption) -> None:
    """Everything about one feature group."""
    data = workspace().features.describe(name)

    def render() -> None:
        print_table(f"feature group {name}", ["field", "value"], ((k, v) for k, v in data.items() if k != "features"))
        print_table("features", ["name", "type"], ((f["name"], f["type"]) for f in data["features"]))

    emit(data, as_json, render)


@app.command("ingest")
def ingest(
    name: str = ref_argument("FEATURE_GROUP"),
    dataset: str = ref_option("DATASET", "--dataset", help="The dataset to ingest."),
    file: Path = typer.Option(None, "--file", help="A .parquet, .csv or .jsonl file to ingest."),
    batch_size: int = typer.Option(50_000, help="Rows per all-or-nothing batch."),
    workers: int = typer.Option(2, help="Batches written in parallel."),
    target: list[str] = typer.Option(None, "--target", help="online and/or offline (default both)."),
    as_json: bool = JsonOption,
) -> None:
    """Bulk-ingest a dataset or a file, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from forgeml.errors import ValidationError

    if bool(dataset) == bool(file):
        raise ValidationError("give exactly one of --dataset or --file")
    ws = workspace()
    data = dataset if dataset else _read_frame(file)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console(stderr=True), transient=as_json) as bar:  # fmt: skip
        task = bar.add_task(f"ingesting into {name}", total=None)
        result = ws.features.ingest(name, data, batch_size=batch_size, workers=workers, target_stores=target or None,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))  # fmt: skip
    emit(result.to_dict(), as_json, lambda: typer.echo(f"ingested {result.rows} rows in {result.batches} batch(es) into {name}"))


@app.command("put")
def put(name: str = ref_argument("FEATURE_GROUP"), record: str = typer.Option(..., "--record", help="The record as a JSON object."),
        target: list[str] = typer.Option(None, "--target", help="online and/or offline."),
        ttl: str = typer.Option(None, "--ttl", help="TTL for this record (overrides the group's)."),
        idempotency_key: str = typer.Option(None, "--idempotency-key", help="A retry with this key and record writes nothing again."),
        as_json: bool = JsonOption) -> None:  # fmt: skip
    """PutRecord: one record (online only if its event time is newer)."""
    result = workspace().features.put_record(name, _json_arg(record, "--record"), target_stores=target or None, ttl=ttl,
                                             idempotency_key=idempotency_key)  # fmt: skip
    emit(result, as_json, lambda: typer.echo("stored" + ("" if result["online_updated"] else " (offline only: not newer than the online record)")))


@app.command("get")
def get(name: str = ref_argument("FEATURE_GROUP"), record_id: list[str] = typer.Argument(..., help="Record identifier(s)."), feature: list[str] = typer.Option(None, "--feature", "-f", help="Only these features."),
        as_json: bool = JsonOption) -> None:  # fmt: skip
    """GetRecord / BatchGetRecord from the online store (exit 4 when one is not found)."""
    ws = workspace()
    records = ws.features.batch_get(name, list(record_id), features=feature or None)
    data: Any = records[0] if len(records) == 1 else records
    if as_json:
        print_json(data)
    else:
        from forgeml.cli._table import cell_text

        for rid, rec in zip(record_id, records, strict=True):
            typer.echo(f"{rid}: {cell_text(rec) if rec is not None else 'not found'}")
    if any(r is None for r in records):
        raise typer.Exit(4)


@app.command("delete")
def delete(name: str = ref_argument("FEATURE_GROUP"), record_id: str = typer.Argument(..., help="The record identifier."), event_time: str = typer.Option(..., "--event-time", help="The delete's event time (ISO-8601 or epoch seconds)."),
           hard: bool = typer.Option(False, "--hard", help="HardDelete: remove from the online store."),
           as_json: bool = JsonOption) -> None:  # fmt: skip
    """DeleteRecord: write a delete marker offline; soft (default) or hard delete online."""
    ws = workspace()
    group = ws.features.get_group(name)
    rid: Any = int(record_id) if group.types[group.record_identifier] == "Integral" and record_id.lstrip("-").isdigit() else record_id
    when: Any = float(event_time) if event_time.replace(".", "", 1).isdigit() else event_time
    result = ws.features.delete_record(name, rid, when, mode="hard" if hard else "soft")
    emit(result, as_json, lambda: typer.echo(f"{result['mode']} delete of {record_id}: " + ("applied online" if result["online_updated"] else "marker written offline only")))


@app.command("query")
def query(sql: str, limit: int = typer.Option(50, help="Rows to print in the table view."), as_json: bool = JsonOption) -> None:
    """Run read-only SQL (DuckDB) over the offline store; each group is a view by its name."""
    _frame_out(workspace().features.query(sql), as_json, "query", limit)


@app.command("build-training-set")
def build_training_set(
    entity: str = ref_option("DATA", "--entity", default=..., help="The entity/label rows."),
    feature: list[str] = typer.Option(..., "--feature", "-f", help="GROUP or GROUP:f1,f2; repeatable."),
    event_time_column: str = typer.Option(..., "--event-time-column", help="Entity column with each row's event time."),
    id_column: list[str] = typer.Option(None, "--id-column", help="GROUP=COLUMN when the entity column differs from the record id."),
    output: str = typer.Option(None, "--output", help="Store the result as this dataset."),
    as_of: str = typer.Option(None, "--as-of", help="Only rows written by this time."),
    as_json: bool = JsonOption,
) -> None:
    """Point-in-time correct training set (no value from after a row's event time)."""
    ws = workspace()
    source: Any = _read_frame(Path(entity)) if Path(entity).suffix in (".parquet", ".csv", ".jsonl") else entity
    ids = dict(i.split("=", 1) for i in (id_column or []) if "=" in i)
    result = ws.features.build_training_set(source, list(feature), event_time_column=event_time_column,
                                            id_columns=ids or None, as_of=as_of, name=output)  # fmt: skip
    summary = {"rows": len(result.frame), "columns": [str(c) for c in result.frame.columns],
               "dataset": result.dataset.ref if result.dataset else None, "feature_groups": result.feature_groups}  # fmt: skip
    if output:
        emit(summary, as_json, lambda: typer.echo(f"stored {summary['rows']} rows as {summary['dataset']}"))
    else:
        _frame_out(result.frame, as_json, "training set")


@app.command("materialize")
def materialize(name: str = ref_argument("FEATURE_GROUP"), as_json: bool = JsonOption) -> None:
    """Load the offline latest snapshot into the online store."""
    result = workspace().features.materialize(name)
    emit(result, as_json, lambda: typer.echo(f"materialized {result['records']} records ({result['changed']} changed)"))


@app.command("check")
def check(name: str = ref_argument("FEATURE_GROUP"), as_json: bool = JsonOption) -> None:
    """Check that online values equal the offline latest snapshot (exit 6 when they differ)."""
    report = workspace().features.check_consistency(name)
    emit(report, as_json, lambda: typer.echo(
        f"{name}: {'consistent' if report['consistent'] else 'INCONSISTENT'} "
        f"({report['offline_records']} offline, {report['online_records']} online, {report['mismatches']} mismatches)"))  # fmt: skip
    if not report["consistent"]:
        raise typer.Exit(6)


@app.command("compact")
def compact(name: str = ref_argument("FEATURE_GROUP"), as_json: bool = JsonOption) -> None:
    """Merge each event-date partition's files into one."""
    result = workspace().features.compact(name)
    emit(result, as_json, lambda: typer.echo(f"{result['files_before']} file(s) -> {result['files_after']}"))
