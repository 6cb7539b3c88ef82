"""``forgeml data``: ingest, list, inspect, compare, export and import versioned datasets.

Other data modules (profiling, validation, PII, recipes, splits) add their commands to this
same Typer ``app``.
"""

from __future__ import annotations

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
from forgeml.cli._refs import ref_argument

app = typer.Typer(help="Datasets: ingestion, immutable versions, diff, head, export/import.", no_args_is_help=True)


def _short(digest: str | None) -> str:
    return (digest or "").removeprefix("sha256:")[:16]


def _say_record(rec: Any, as_json: bool, verb: str) -> None:
    data = rec.to_dict()
    if as_json:
        print_json(data)
        return
    d = rec.data
    typer.echo(f"{verb} {rec.ref}: {d.get('rows')} rows, {d.get('columns')} columns, content {_short(d.get('content_hash'))}")
    if q := d.get("quarantine"):
        first = ((d.get("ingest") or {}).get("first_errors") or [""])[0]
        typer.echo(f"warning: quarantined {q['rows']} malformed row(s) to {q['dataset']}" + (f" (first: {first})" if first else ""), err=True)


@app.command("ls")
def list_datasets(
    all_: bool = typer.Option(False, "--all", help="Include quarantine side datasets."),
    as_json: bool = JsonOption,
) -> None:
    """List datasets (latest version of each)."""
    from forgeml.data._datasets import QUARANTINE_SUFFIX

    data = [r.to_dict() for r in workspace().datasets.list() if all_ or not r.name.endswith(QUARANTINE_SUFFIX)]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} dataset(s)", ["name", "version", "rows", "columns", "content hash", "created"],
        ((d["name"], d["version"], d["data"].get("rows"), len(d["data"].get("schema", [])), _short(d["data"].get("content_hash")), short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


@app.command("versions")
def versions(name: str = ref_argument("DATASET"), as_json: bool = JsonOption) -> None:
    """Every version of one dataset, newest first."""
    data = [r.to_dict() for r in workspace().datasets.versions(name)]
    emit(data, as_json, lambda: print_table(
        f"dataset {name}", ["version", "rows", "mode", "content hash", "source", "quarantined", "created"],
        ((d["version"], d["data"].get("rows"), d["data"].get("mode"), _short(d["data"].get("content_hash")), d["spec"].get("source"),
          (d["data"].get("quarantine") or {}).get("rows", ""), short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("DATASET"), version: int = typer.Option(None, "--version", "-v", help="Default: latest."),
         as_json: bool = JsonOption) -> None:  # fmt: skip
    """One version: schema, row count, content hash, source and lineage."""
    data = workspace().datasets.describe(name, version)

    def render() -> None:
        d = data["data"]
        rows = [("ref", f"dataset/{data['name']}:{data['version']}"), ("rows", d.get("rows")), ("layout", d.get("layout")),
                ("partition_by", d.get("partition_by")), ("content_hash", d.get("content_hash")), ("source", data["spec"].get("source")),
                ("mode", d.get("mode")), ("parent", d.get("parent")), ("quarantine", d.get("quarantine")), ("created", short_time(data["created_at"]))]  # fmt: skip
        rows += [(f"upstream ({e['relation']})", e["src"]) for e in data["upstream"]]
        rows += [(f"downstream ({e['relation']})", e["dst"]) for e in data["downstream"]]
        print_table(f"dataset {data['name']}:{data['version']}", ["field", "value"], rows)
        print_table("schema", ["column", "arrow type", "pandas dtype"], (
            (a["name"], a["type"], p["type"]) for a, p in zip(d.get("arrow_schema", d["schema"]), d["schema"], strict=False)))  # fmt: skip

    emit(data, as_json, render)


@app.command("head")
def head(
    name: str = ref_argument("DATASET"),
    n: int = typer.Option(10, "-n", help="How many rows."),
    version: int = typer.Option(None, "--version", "-v", help="Default: latest."),
    as_json: bool = JsonOption,
) -> None:
    """The first rows of a version."""
    import json

    ws = workspace()
    record = ws.datasets.get(name, version)
    frame = ws.datasets.head(record, n=n)
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    emit(records, as_json, lambda: print_table(
        f"{record.ref} (first {len(frame)} rows)", [str(c) for c in frame.columns], frame.astype(object).where(frame.notna(), None).itertuples(index=False)))  # fmt: skip


@app.command("diff")
def diff(
    name: str = ref_argument("DATASET", help="The older side when it names a version (loans:1), else the dataset."),
    a: str = typer.Argument(None, help="The older version when DATASET names none, else the newer side (a version or a dataset reference)."),
    b: str = typer.Argument(None, help="The newer version (default: latest) when A is the older one."),
    key: list[str] = typer.Option(None, "--key", "-k", help="Match rows by this column (repeatable)."),
    as_json: bool = JsonOption,
) -> None:
    """What changed between two versions: columns, and rows (by key, or as a multiset).

    `data diff loans:1 loans:3`, `data diff loans:1` (against the latest) and `data diff loans 1 3` agree.
    """
    data = workspace().datasets.diff(name, a, b, key=key or None)

    def render() -> None:
        s, r = data["schema"], data["rows"]
        typer.echo(f"dataset {data['dataset']}: version {data['a']} -> {data['b']}")
        typer.echo(f"  columns added: {', '.join(s['added']) or '-'}; removed: {', '.join(s['removed']) or '-'}")
        for t in s["type_changed"]:
            typer.echo(f"  column {t['column']}: {t['from']} -> {t['to']}")
        typer.echo(f"  rows: {r['a']} -> {r['b']}")
        for k in ("added", "removed", "changed", "only_in_a", "only_in_b", "in_both"):
            if k in r:
                typer.echo(f"  {k}: {r[k]}" + (f"  e.g. {data['sample'][k]}" if data.get("sample", {}).get(k) else ""))

    emit(data, as_json, render)


@app.command("ingest")
def ingest(
    source: str = typer.Argument(..., help="File, glob, folder, fsspec URL, or SQLAlchemy database URL."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
    format: str = typer.Option(None, "--format", "-f", help="csv, tsv, parquet, jsonl or json (default: from the extension)."),
    encoding: str = typer.Option("utf-8", help="Text encoding of CSV / JSON Lines files."),
    delimiter: str = typer.Option(None, help="CSV field delimiter (default , or tab for .tsv)."),
    partition_by: str = typer.Option(None, "--partition-by", help="Store Hive-partitioned by this column."),
    mode: str = typer.Option("replace", help="replace, append or upsert (files only; SQL sync chooses)."),
    key: list[str] = typer.Option(None, "--key", "-k", help="Row key for upsert (repeatable)."),
    table: str = typer.Option(None, help="Database table (SQL sources)."),
    query: str = typer.Option(None, help="SQL query (SQL sources)."),
    watermark: str = typer.Option(None, help="Column for incremental sync (SQL sources)."),
    full: bool = typer.Option(False, "--full", help="Reload everything, ignoring the watermark."),
    allow_schema_change: bool = typer.Option(False, "--allow-schema-change", help="Accept columns/types that differ from the latest version."),
    description: str = typer.Option(None, help="What this dataset is."),
    idempotency_key: str = typer.Option(
        None, "--idempotency-key", help="Files: a retry with this key and the same files and options returns the first version."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ingest files or a database table into the next version of a dataset."""
    from forgeml.core.idempotency import as_key
    from forgeml.data._sql import is_sql_url

    ws = workspace()
    key_ = as_key(idempotency_key)
    before = ws.datasets._latest(name)
    common: dict[str, Any] = {"key": key or None, "allow_schema_change": allow_schema_change, "description": description,
                              "table": table, "query": query, "watermark": watermark, "full": full}  # fmt: skip
    if is_sql_url(source):
        rec = ws.datasets.ingest(source, name, idempotency_key=key_, **common)
    else:
        from rich.progress import Progress

        with Progress(console=console(stderr=True), transient=True, disable=as_json) as bar:
            task = bar.add_task("reading", total=None)

            def progress(i: int, total: int, path: str) -> None:
                bar.update(task, total=total, completed=i, description=f"reading {Path(path).name}" if path else "writing")

            rec = ws.datasets.ingest(source, name, format=format, encoding=encoding, delimiter=delimiter, partition_by=partition_by,
                                     mode=mode, progress=progress, idempotency_key=key_, **common)  # fmt: skip
    if key_ is not None and key_.replayed:
        emit(rec.to_dict(), as_json, lambda: typer.echo(f"already ingested with idempotency key {key_.key!r}: {rec.ref}"))
        return
    if before is not None and rec.version == before.version:
        emit(rec.to_dict(), as_json, lambda: typer.echo(f"no new rows: {rec.ref} is up to date"))
        return
    _say_record(rec, as_json, "ingested")


@app.command("consume")
def consume(
    url: str = typer.Argument(..., help="redis://HOST:PORT/DB or nats://HOST:PORT"),
    stream: str = typer.Option(..., "--stream", "-s", help="Redis stream key, or NATS subject."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
    batch_size: int = typer.Option(500, help="Messages per version (micro-batch)."),
    max_wait: float = typer.Option(1.0, help="Seconds to wait for a batch."),
    max_batches: int = typer.Option(None, help="Stop after this many versions."),
    follow: bool = typer.Option(False, "--follow", help="Keep consuming until interrupted (else stop when idle)."),
    group: str = typer.Option("forgeml", help="Redis consumer group."),
    durable: str = typer.Option("forgeml", help="NATS durable consumer name."),
    jetstream: str = typer.Option(None, help="NATS JetStream stream name (default: the one holding the subject)."),
    background: bool = typer.Option(False, "--background", help="Run as a processing job until `forgeml jobs stop`."),
    as_json: bool = JsonOption,
) -> None:
    """Consume a Redis stream or NATS JetStream subject into dataset versions."""
    if background:
        job = workspace().datasets.start_consumer(url, name, stream=stream, group=group, durable=durable, jetstream=jetstream,
                                                  batch_size=batch_size, max_wait=max_wait)  # fmt: skip
        emit(job.to_dict(), as_json, lambda: typer.echo(f"started job {job.name}; stop it with `forgeml jobs stop {job.name}`"))
        return
    written = workspace().datasets.consume(
        url, name, stream=stream, group=group, durable=durable, jetstream=jetstream, batch_size=batch_size, max_wait=max_wait,
        max_batches=max_batches, idle_batches=None if follow else 1,
    )  # fmt: skip
    data = [r.to_dict() for r in written]
    emit(data, as_json, lambda: typer.echo(
        f"wrote {len(written)} version(s) of {name}" + (f", latest {written[-1].ref} ({written[-1].data['rows']} rows)" if written else "")))  # fmt: skip


@app.command("flush")
def flush(name: str, as_json: bool = JsonOption) -> None:
    """Write records buffered by ``POST /datasets/NAME/records`` as a version now."""
    rec = workspace().datasets.records().flush(name)
    emit(rec.to_dict() if rec else None, as_json, lambda: typer.echo(f"flushed into {rec.ref}" if rec else "nothing buffered"))


@app.command("export")
def export(
    name: str = ref_argument("DATASET", help="All its versions, or only the one it names."),
    dest: Path = typer.Argument(..., help="Archive to write (.tar, or .tar.gz to compress)."),
    version: list[int] = typer.Option(None, "--version", "-v", help="Only this version (repeatable; default all)."),
    as_json: bool = JsonOption,
) -> None:
    """Export versions to a checksummed archive (plus DEST.sha256) for offline transfer."""
    out = workspace().datasets.export(name, dest, versions=version or None)
    emit(out, as_json, lambda: typer.echo(f"exported {len(out['versions'])} version(s) of {name} to {dest} (sha256 {out['sha256']})"))


@app.command("import")
def import_(
    archive: Path = typer.Argument(..., help="An archive written by `forgeml data export`."),
    name: str = typer.Option(None, "--name", "-n", help="Import under this name (default: the exported name)."),
    as_json: bool = JsonOption,
) -> None:
    """Verify every checksum of an archive, then import its versions."""
    recs = workspace().datasets.import_archive(archive, name=name)
    emit([r.to_dict() for r in recs], as_json, lambda: typer.echo(
        f"imported {len(recs)} version(s) as {recs[0].name}: " + ", ".join(str(r.version) for r in recs)))  # fmt: skip


from forgeml.cli import data_prep  # noqa: E402  (profile, validate, drift, pii, recipe, split)

data_prep.register(app)


@app.command("delete")
def delete(
    name: str = ref_argument("DATASET", help="The version to delete: NAME:VERSION (or dataset/NAME:VERSION)."),
    version: int = typer.Option(None, "--version", "-v", help="The version, when DATASET is a bare name."),
    reason: str = typer.Option(None, help="Why (recorded with the deletion)."),
    by: str = typer.Option(None, help="Who deletes it (default: OS user)."),
    as_json: bool = JsonOption,
) -> None:
    """Delete one dataset version: gone from listings and references, kept as a tombstone for lineage.

    Refused (exit 6) while a job that has not ended reads it. The data is released; `forgeml
    artifacts gc` reclaims the space.
    """
    rec = workspace().datasets.delete(name, version, by=by, reason=reason)
    emit(rec.to_dict(), as_json, lambda: typer.echo(f"deleted {rec.ref} (lineage and events kept; `forgeml artifacts gc` frees its data)"))
