"""Sealed line files: append-only JSON Lines (data capture) encrypted line by line.

A sealed line file starts with ``MAGIC`` and the envelope header on one line; every further line
is the base64 of one AES-256-GCM sealed record, whose nonce and associated data carry its line
number, so an altered, moved or reordered line fails to open. Each line is on disk as soon as it
is written, like the plain files, and a reader reads sealed and plain files alike.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from forgeml.security._envelope import MAGIC, DecryptionError, Envelope, is_sealed


class SealedLineWriter:
    """A binary file handle whose ``write(line)`` seals each newline-terminated line."""

    def __init__(self, handle: IO[bytes], envelope: Envelope, context: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key, self._prefix, self._header = envelope.new_data_key(context)
        self._aes = AESGCM(key)
        self._handle = handle
        self._index = 0
        handle.write(MAGIC + self._header + b"\n")

    def write(self, line: bytes) -> int:
        sealed = self._aes.encrypt(self._prefix + struct.pack(">I", self._index), line.rstrip(b"\n"),
                                   self._header + struct.pack(">I", self._index))  # fmt: skip
        self._index += 1
        return self._handle.write(base64.b64encode(sealed) + b"\n")

    def close(self) -> None:
        self._handle.close()


def seal_lines(handle: IO[bytes], envelope: Envelope | None, context: str) -> IO[bytes] | SealedLineWriter:
    """``handle`` as is when encryption is off, else a writer sealing each line written to it."""
    return handle if envelope is None else SealedLineWriter(handle, envelope, context)


def read_lines(path: str | Path, envelope: Envelope | None, context: str) -> Iterator[bytes]:
    """The plaintext lines of a sealed or plain line file (no trailing newlines).

    Raises:
        DecryptionError: naming the file and line when a line was altered or moved.
        ValidationError: for a sealed file while encryption is off.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    with open(path, "rb") as fh:
        first = fh.readline()
        if not is_sealed(first):
            if first.strip():
                yield first.rstrip(b"\n")
            for line in fh:
                if line.strip():
                    yield line.rstrip(b"\n")
            return
        if envelope is None:
            from forgeml.errors import ValidationError

            raise ValidationError(f"{path} is encrypted: turn encryption_at_rest on (with its master key) to read it")
        header = Envelope.parse_header(first[len(MAGIC) :].rstrip(b"\n"), str(path))
        aes = AESGCM(envelope.data_key(header, context, str(path)))
        for index, line in enumerate(fh):
            try:
                yield aes.decrypt(header.prefix + struct.pack(">I", index), base64.b64decode(line.strip(), validate=True),
                                  header.raw + struct.pack(">I", index))  # fmt: skip
            except (InvalidTag, ValueError):
                raise DecryptionError(f"{path} line {index + 2} failed decryption: it was altered or moved") from None


__all__ = ["SealedLineWriter", "read_lines", "seal_lines"]
