"""Inputs and requests of a batch transform: which files, and how each is cut into requests.

``SplitType=None`` sends a whole file as one request (refused when it exceeds
``MaxPayloadInMB``). ``SplitType=Line`` cuts on newlines: ``SingleRecord`` sends one line per
request, ``MultiRecord`` packs as many whole lines as fit under ``MaxPayloadInMB``. A request
never spans two files.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from forgeml.errors import NotFoundError, ValidationError
from forgeml.serving._transform_config import CSV, JSON, TransformConfig
from forgeml.serving._transform_filters import RecordError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

STREAM_CHUNK = 6 * 1024 * 1024  # batch size when MaxPayloadInMB=0 (no limit)


def input_files(config: TransformConfig) -> list[tuple[Path, str]]:
    """``(file, output name)`` pairs in input order; folders contribute their files, sorted.

    Raises:
        NotFoundError: an input does not exist.
        ValidationError: two inputs would write the same output name, or there are no files.
    """
    found: list[tuple[Path, str]] = []
    for item in config.inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            found += [(p, p.relative_to(path).as_posix() + ".out") for p in files]
        elif path.is_file():
            found.append((path, path.name + ".out"))
        else:
            raise NotFoundError(f"input {item} does not exist")
    names = [name for _, name in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"two inputs would both write {dupes[0]}; give files with distinct names")
    if not found:
        raise ValidationError("the inputs hold no files")
    return found


def dataset_columns(config: TransformConfig, columns: list[str], inputs: list[str]) -> list[str]:
    """The dataset columns a transform job writes into its input file, in that order.

    CSV records are positional (SageMaker's), so with the identity ``input_filter`` a dataset goes
    through the model's signature: its input columns by name, in the model's order, the label and
    any other column left out. An explicit ``input_filter`` addresses the dataset's own columns,
    so they are all kept; JSON keeps every column, the model picks its inputs by name.

    Raises:
        ValidationError: the dataset lacks some of the model's input columns (all named).
    """
    if config.content_type != CSV or config.input_filter.strip() != "$":
        return list(columns)
    missing = [c for c in inputs if c not in columns]
    if missing:
        raise ValidationError(f"dataset {config.dataset} lacks the model's input column(s) {', '.join(missing)} (of {len(inputs)})")
    return list(inputs)


def dataset_file(ws: Workspace, config: TransformConfig, folder: Path, inputs: list[str]) -> tuple[Path, str, str]:
    """Write a dataset version as one input file in the job's content type.

    Returns ``(file, output name, dataset ref)``. CSV has no header (SageMaker's CSV records are
    positional) and holds the model's input columns (see :func:`dataset_columns`); JSON Lines
    keeps column names, so the model picks its columns by name.
    """
    assert config.dataset is not None
    record = ws.datasets.get(config.dataset)
    name = record.name
    frame = ws.datasets.read(record)
    frame = frame[dataset_columns(config, [str(c) for c in frame.columns], inputs)]
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {CSV: "csv", JSON: "json"}.get(config.content_type, "jsonl")
    path = folder / f"{name}-{record.version}.{suffix}"
    if config.content_type == CSV:
        frame.to_csv(path, header=False, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    elif config.content_type == JSON and config.split_type == "None":
        frame.to_json(path, orient="records", date_format="iso")
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    return path, path.name + ".out", record.ref


def open_input(path: Path, config: TransformConfig) -> IO[bytes]:
    if config.compression_type == "Gzip":
        return gzip.open(path, "rb")
    return open(path, "rb")


def requests(fh: IO[bytes], config: TransformConfig) -> Iterator[tuple[bytes, int, bool]]:
    """``(body, first line number, whole file?)`` for every request cut from one file.

    Raises:
        RecordError: a file (split None) or a record larger than ``MaxPayloadInMB``.
    """
    limit = config.payload_limit
    if config.split_type == "None":
        data = fh.read() if limit is None else fh.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise RecordError(
                f"the file is larger than max_payload_mb={config.max_payload_mb} and split_type None sends it as one request"
            )
        yield data, 1, True
        return
    if config.batch_strategy == "SingleRecord":
        for number, line in enumerate(fh, 1):
            record = line.rstrip(b"\r\n")
            if limit is not None and len(record) > limit:
                raise RecordError(f"line {number}: record is larger than max_payload_mb={config.max_payload_mb}")
            if record.strip():
                yield record, number, False
        return
    yield from _multi_record(fh, limit, config.max_payload_mb)


def _multi_record(fh: IO[bytes], limit: int | None, mb: int) -> Iterator[tuple[bytes, int, bool]]:
    size = limit or STREAM_CHUNK
    buf = b""
    line_no = 1
    eof = False
    while not eof or buf:
        while not eof and len(buf) <= size:
            chunk = fh.read(size)
            eof = not chunk
            buf += chunk
        if len(buf) <= size:
            batch, buf = buf, b""
        else:
            cut = buf.rfind(b"\n", 0, size + 1)
            if cut < 0:
                if limit is not None:
                    raise RecordError(f"line {line_no}: record is larger than max_payload_mb={mb}")
                cut = buf.find(b"\n")  # streaming: one long record is fine
                if cut < 0:
                    if not eof:
                        size *= 2
                        continue
                    cut = len(buf)
            batch, buf = buf[:cut], buf[cut + 1 :]
        if batch.strip():
            yield batch, line_no, False
        line_no += batch.count(b"\n") + 1


__all__ = ["dataset_columns", "dataset_file", "input_files", "open_input", "requests"]
