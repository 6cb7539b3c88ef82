"""Decompression of ingested files, with errors that name the file and the offset.

A file is decompressed by its extension (``.gz``, ``.bz2``, ``.xz``, ``.zst``); a file without one
whose first bytes are a compression format's magic number is decompressed as that format (a
``loans.csv`` that is really gzip still reads). gzip, bzip2 and xz go through the standard
library's incremental decompressors, fed in chunks, so a corrupt stream is reported with the
compressed byte offset where it broke and a stream cut short (no end-of-stream marker) is
reported as truncated instead of surfacing as a bare ``EOFError``. zstd goes through pyarrow's
codec (no extra dependency).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from forgeml.errors import ValidationError

SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd"}
_CHUNK = 1 << 16

_FACTORIES: dict[str, Callable[[], Any]] = {
    "gzip": lambda: zlib.decompressobj(wbits=31),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}


def codec_of(path: str, raw: bytes) -> str | None:
    """The compression of a file: its extension's, else the one its magic bytes show, else None."""
    name = path.lower()
    for suffix, codec in SUFFIXES.items():
        if name.endswith(suffix):
            return codec
    for codec, magic in MAGIC.items():
        if raw.startswith(magic):
            return codec
    return None


def decompress(raw: bytes, path: str, where: str) -> bytes:
    """``raw`` decompressed as ``path``'s compression says (unchanged when it has none).

    Raises:
        ValidationError: the data is not in that format, is corrupt (with the compressed byte
            offset), or ends before its end-of-stream marker (truncated).
    """
    codec = codec_of(path, raw)
    if codec is None or not raw:
        return raw
    if len(raw) < len(MAGIC[codec]) and MAGIC[codec].startswith(raw):
        raise ValidationError(f"{where}: truncated {codec} data: the file ends at byte {len(raw)}, inside the format's header")
    if not raw.startswith(MAGIC[codec]):
        raise ValidationError(f"{where}: not {codec}-compressed data (it starts with {raw[:8]!r}); fix the file or its extension")
    if codec == "zstd":
        return _zstd(raw, where)
    return _inflate(raw, codec, where)


def _inflate(raw: bytes, codec: str, where: str) -> bytes:
    """Every member (gzip) or stream (bzip2, xz) of ``raw``, chunk by chunk."""
    out = bytearray()
    pos = 0
    while True:
        decoder = _FACTORIES[codec]()
        while not decoder.eof:
            if pos >= len(raw):
                raise ValidationError(
                    f"{where}: truncated {codec} data: the stream ends at byte {len(raw)} before its end marker "
                    "(the file was cut short; copy it again)"
                )
            chunk = raw[pos : pos + _CHUNK]
            try:
                out += decoder.decompress(chunk)
            except (zlib.error, OSError, lzma.LZMAError, ValueError, EOFError) as exc:
                raise ValidationError(f"{where}: corrupt {codec} data at or after compressed byte {pos}: {exc}") from None
            pos += len(chunk)
        pos -= len(decoder.unused_data)
        rest = raw[pos:]
        if not rest.strip(b"\x00"):  # the end, or zero padding after the last member
            return bytes(out)
        if not rest.startswith(MAGIC[codec]):
            raise ValidationError(f"{where}: corrupt {codec} data: {len(rest)} byte(s) of garbage after the stream end at byte {pos}")


def _zstd(raw: bytes, where: str) -> bytes:
    import pyarrow as pa

    try:
        with pa.input_stream(pa.py_buffer(raw), compression="zstd") as stream:
            return bytes(stream.read())
    except (OSError, pa.ArrowException) as exc:
        if "runcated" in str(exc):
            raise ValidationError(
                f"{where}: truncated zstd data: the stream ends at byte {len(raw)} before its end (the file was cut short; copy it again)"
            ) from None
        raise ValidationError(f"{where}: corrupt zstd data: {exc}") from None


__all__ = ["MAGIC", "SUFFIXES", "codec_of", "decompress"]
