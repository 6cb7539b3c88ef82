"""The batch transform job's entrypoint (runs in the job's worker process).

Files are processed one after another, in input order; the requests of a file run on
``MaxConcurrentTransforms`` worker threads (OpenMP/BLAS and ONNX Runtime threads are pinned to
cores / workers) and their responses are written in order to ``<file>.out.part``, renamed to
``<file>.out`` when the whole file succeeded. A bad record stops its file: the partial output is
deleted, the other files still run, and the job ends Failed naming every failed file.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ForgeError, ValidationError
from forgeml.serving._transform_config import TransformConfig
from forgeml.serving._transform_io import dataset_file, input_files, open_input, requests

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext
    from forgeml.serving._transform_batch import BatchProcessor

REPORT = "transform-report.json"


class _Progress:
    """Throttled progress metrics: records done and the fraction of input bytes consumed."""

    def __init__(self, ctx: JobContext, total_bytes: int) -> None:
        self.ctx = ctx
        self.total = max(total_bytes, 1)
        self.bytes = 0
        self.records = 0
        self.last = 0.0
        self.step = 0

    def add(self, nbytes: int, records: int, force: bool = False) -> None:
        self.bytes += nbytes
        self.records += records
        now = time.monotonic()
        if force or now - self.last > 0.5:
            self.last = now
            self.step += 1
            self.ctx.log_metrics({"records": self.records, "progress": min(self.bytes / self.total, 1.0)}, step=self.step)


def _transform_file(
    src: Path, dest: Path, config: TransformConfig, proc: BatchProcessor, pool: ThreadPoolExecutor, progress: _Progress
) -> dict[str, Any]:
    started = time.time()
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    pending: deque[tuple[Future[tuple[bytes, int]], int]] = deque()
    records = 0
    window = 2 * config.workers
    line_sep = config.assemble_with == "Line"
    try:
        with open_input(src, config) as fh, open(part, "wb") as out:

            def drain(keep: int) -> None:
                nonlocal records
                while len(pending) > keep:
                    future, nbytes = pending.popleft()
                    body, count = future.result()
                    if body or count:
                        out.write(body + b"\n" if line_sep else body)
                    records += count
                    progress.add(nbytes, count)

            for data, first_line, whole in requests(fh, config):
                pending.append((pool.submit(proc.process, data, first_line, whole_file=whole), len(data) + 1))
                drain(window)
            drain(0)
        part.replace(dest)
    except (KeyboardInterrupt, SystemExit):  # stopped: leave no partial output
        part.unlink(missing_ok=True)
        raise
    except Exception as exc:  # any failure of this file's records fails the file, not the job run
        for future, _ in pending:
            future.cancel()
        for future, _ in pending:
            if not future.cancelled():
                future.exception()  # wait: nothing may write after the cleanup below
        part.unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
        message = exc.message if isinstance(exc, ForgeError) else f"{type(exc).__name__}: {exc}"
        return {"input": str(src), "output": None, "status": "Failed", "error": message, "records": 0,
                "seconds": round(time.time() - started, 3)}  # fmt: skip
    return {"input": str(src), "output": str(dest), "status": "Completed", "error": None, "records": records,
            "seconds": round(time.time() - started, 3)}  # fmt: skip


def pin_threads(threads: int) -> None:
    """Cap OpenMP (and BLAS) threads for the calling thread; use as a pool's initializer."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _load_model(ctx: JobContext, config: TransformConfig, threads: int) -> Any:
    """The model the job was created with (pinned then), verified against ForgeML's digests."""
    from forgeml.serving._transform_service import load_pinned, pin_model

    pinned = ctx.config.get("package") or pin_model(ctx.workspace, config.model, trusted=config.trusted)
    return load_pinned(ctx.workspace, pinned, ctx.workdir, threads=threads, trusted=config.trusted)


def run(ctx: JobContext) -> None:
    """Job entrypoint: ``ctx.config["transform"]`` is a :class:`TransformConfig` dump."""
    from threadpoolctl import threadpool_limits

    from forgeml.serving._transform_batch import BatchProcessor

    config = TransformConfig.model_validate(ctx.config["transform"])
    # a stop request (SIGTERM) unwinds through the file loop, so no .part file is left behind
    signal.signal(signal.SIGTERM, _stop)
    os.environ.update(config.environment)
    ctx.set_secondary_status("Downloading")
    workers = config.workers
    threads = max(1, (os.cpu_count() or 1) // workers)
    model = _load_model(ctx, config, threads)
    if config.dataset:  # through the model's signature: its input columns, by name
        src, name, _ = dataset_file(ctx.workspace, config, ctx.workdir / "input", model.feature_names)
        files = [(src, name)]
    else:
        files = input_files(config)
    output = Path(config.output_path or ctx.workdir / "output")
    output.mkdir(parents=True, exist_ok=True)
    results = []
    started = time.time()  # records/s counts the files, not loading the model
    with threadpool_limits(limits=threads):  # after loading: it only caps libraries already loaded
        proc = BatchProcessor(model, config)
        ctx.set_secondary_status("Transforming")
        ctx.log(f"[transform] {len(files)} file(s), {workers} worker(s) x {threads} thread(s)")
        progress = _Progress(ctx, sum(p.stat().st_size for p, _ in files))
        # OpenMP's thread count is per thread: pin it in every worker thread, not only here
        with ThreadPoolExecutor(workers, "transform", initializer=pin_threads, initargs=(threads,)) as pool:
            for src, name in files:
                result = _transform_file(src, output / name, config, proc, pool, progress)
                results.append(result)
                ctx.log(f"[transform] {src.name}: {result['status']} ({result['records']} records)"
                        + (f": {result['error']}" if result["error"] else ""))  # fmt: skip
        progress.add(0, 0, force=True)
    elapsed = time.time() - started
    total = sum(r["records"] for r in results)
    ctx.log_metrics({"records_total": total, "seconds": elapsed, "records_per_second": total / elapsed if elapsed else 0.0})
    (ctx.workdir / REPORT).write_text(json.dumps({"output_path": str(output), "files": results, "records": total,
                                                  "seconds": elapsed}, indent=2))  # fmt: skip
    ctx.set_secondary_status("Uploading")
    if any(r["status"] == "Completed" for r in results):
        art = ctx.workspace.artifacts.put_dir(output, owner=ctx.job.ref)
        ctx.add_output(f"artifact/{art.digest}")
    failed = [r for r in results if r["status"] == "Failed"]
    if failed:
        first = failed[0]
        raise ValidationError(
            f"{len(failed)} of {len(results)} input file(s) failed; {Path(first['input']).name}: {first['error']}"
        )
    ctx.set_secondary_status("Completed")


__all__ = ["REPORT", "pin_threads", "run"]
