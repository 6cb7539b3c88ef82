"""The numeric columns as float64 numpy batches, read ahead by a thread, for the profile's streamed pass.

A single Parquet file is read with pyarrow (``ParquetFile.iter_batches``, unthreaded, buffered reads),
which decodes 17 numeric columns of 10M rows in less than half the CPU time of DuckDB's Arrow export
of the same columns (measured: ~1.5 s against ~3.5 s on the 2-core development machine). Other sources (a folder of
Parquet files, CSV, a DataFrame) go through DuckDB's ``src`` view. Either way each batch arrives
as one float64 array per column with missing values (NULL and NaN alike) as NaN, converted in the
reading thread while the caller reduces the previous batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from forgeml.data._duck import quote

PREFETCH = 2  # batches read ahead of the one being reduced


def numeric_batches(
    con: Any, data: Any, columns: list[str], types: dict[str, str], batch_rows: int
) -> Generator[list[Any], None, None]:
    """Batches of ``columns`` (each a list of float64 arrays), read ahead by a thread."""
    batches = _parquet_batches(data, columns, batch_rows)
    if batches is None:
        select = ", ".join(quote(c) if types[c].upper() == "DOUBLE" else f"{quote(c)}::DOUBLE" for c in columns)
        batches = con.sql(f"SELECT {select} FROM src").to_arrow_reader(batch_rows)
    return _prefetched((_as_numpy(b) for b in batches), PREFETCH)


def _parquet_batches(data: Any, columns: list[str], batch_rows: int) -> Iterable[Any] | None:
    """Record batches straight from a single Parquet file, or None when ``data`` is something else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(data, str | Path) or not Path(data).is_file() or Path(data).suffix.lower() == ".csv":
        return None
    try:
        file = pq.ParquetFile(data, pre_buffer=False, buffer_size=1 << 20)  # pre-buffering held ~1 GB more here
    except (OSError, pa.ArrowException):
        return None
    arrow = file.schema_arrow
    if len(set(arrow.names)) != len(arrow.names) or not all(
        c in arrow.names and (pa.types.is_integer(t := arrow.field(c).type) or pa.types.is_floating(t) or pa.types.is_decimal(t))
        for c in columns
    ):
        return None  # leave anything unusual to DuckDB
    batches: Iterable[Any] = file.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)
    return batches


def _as_numpy(batch: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for arr in batch.columns:
        if arr.type != pa.float64():
            arr = pc.cast(arr, pa.float64(), safe=False)
        if arr.null_count:  # ~9x cheaper than letting to_numpy() fill the NULLs
            arr = pc.fill_null(arr, np.nan)
        out.append(arr.to_numpy(zero_copy_only=False))
    return out


def _prefetched(items: Iterable[Any], depth: int) -> Generator[Any, None, None]:
    """``items``, produced by a thread up to ``depth`` ahead of the consumer."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    worker = threading.Thread(target=produce, name="profile-read", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


__all__ = ["PREFETCH", "numeric_batches"]
