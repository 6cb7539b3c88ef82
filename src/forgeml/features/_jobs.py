"""Ingestion as a processing job: durable, logged, with lineage dataset -> job -> feature group."""

from __future__ import annotations

from forgeml.core.jobs import JobContext


def ingest_job(ctx: JobContext) -> None:
    """Ingest ``config["dataset"]`` (NAME[:VERSION]) into ``config["group"]``, logging progress."""
    fs = ctx.workspace.features
    group, dataset = ctx.config["group"], ctx.config["dataset"]
    record = ctx.workspace.datasets.get(str(dataset))
    ctx.use_input(record.ref)
    ctx.set_secondary_status("Ingesting")

    def progress(done: int, total: int) -> None:
        ctx.log(f"{done}/{total} rows")
        ctx.log_metric("rows_ingested", done, done)

    result = fs.ingest(group, record, batch_size=int(ctx.config.get("batch_size", 50_000)),
                       workers=int(ctx.config.get("workers", 2)), progress=progress, job=ctx.name)  # fmt: skip
    ctx.add_output(fs.get_group(group).ref)
    ctx.log(f"ingested {result.rows} rows in {result.batches} batch(es)")
