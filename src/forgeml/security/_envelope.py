"""Envelope encryption of files and streams with AES-256-GCM (the KMS ``GenerateDataKey`` pattern).

Each sealed object gets a fresh 256-bit data key, wrapped by a master key of the
:class:`~forgeml.security._keys.KeyProvider`. Layout::

    MAGIC (8 bytes) | header length (4 bytes, big-endian) | header JSON | chunk | chunk | ...

The header names the master key id, the wrapped data key and an 8-byte nonce prefix. The
plaintext is cut into 1 MiB chunks; chunk ``i`` is sealed with nonce ``prefix || i`` and the
header plus ``i`` and a last-chunk flag as associated data, so a flipped byte, reordered or dropped
chunks and a truncated tail all fail authentication (the STREAM construction). Objects stream in
constant memory either way.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from forgeml.errors import CorruptArtifactError, NotFoundError, ValidationError
from forgeml.security._keys import KeyProvider

MAGIC = b"FGMLENC1"
CHUNK = 1 << 20
_TAG = 16


class DecryptionError(CorruptArtifactError):
    """Sealed bytes that fail authentication: altered, truncated, or under another key."""


@dataclass(frozen=True)
class Header:
    """What the header of a sealed object says (no secret in it)."""

    key_id: str
    wrapped: bytes
    prefix: bytes
    raw: bytes


def is_sealed(head: bytes) -> bool:
    """Whether bytes (at least the first 8 of an object) start a sealed object."""
    return head[: len(MAGIC)] == MAGIC


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)


class Envelope:
    """Seal and open objects under one key provider and alias.

    Args:
        provider: holds the master keys.
        alias: the alias whose current key seals new objects.
    """

    def __init__(self, provider: KeyProvider, alias: str = "forgeml") -> None:
        self.provider = provider
        self.alias = alias

    # sealing ---------------------------------------------------------------------------------
    def new_data_key(self, context: str) -> tuple[bytes, bytes, bytes]:
        """A fresh data key, its nonce prefix and the header that carries both (wrapped)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key_id = self.provider.current(self.alias)
        data_key = AESGCM.generate_key(bit_length=256)
        prefix = os.urandom(8)
        header = json.dumps({"alg": "AES-256-GCM", "chunk": CHUNK, "key": key_id, "prefix": prefix.hex(),
                             "wrapped": base64.b64encode(self.provider.wrap(key_id, data_key, context)).decode()},
                            sort_keys=True).encode()  # fmt: skip
        return data_key, prefix, header

    def data_key(self, header: Header, context: str, what: str) -> bytes:
        """Unwrap the data key a header carries.

        Raises:
            NotFoundError: the master key is not available.
            DecryptionError: the wrapped key was altered or moved from another object.
        """
        try:
            return self.provider.unwrap(header.key_id, header.wrapped, context)
        except NotFoundError as exc:
            raise NotFoundError(f"{what} cannot be decrypted: {exc.message}") from None
        except ValidationError:
            raise DecryptionError(f"{what} failed decryption: its wrapped data key was altered (master key {header.key_id})") from None

    @staticmethod
    def parse_header(raw: bytes, what: str) -> Header:
        try:
            meta = json.loads(raw)
            return Header(str(meta["key"]), base64.b64decode(meta["wrapped"]), bytes.fromhex(meta["prefix"]), raw)
        except (ValueError, KeyError, TypeError):
            raise DecryptionError(f"{what} failed decryption: its encryption header was altered") from None

    def seal_chunks(self, chunks: Iterable[bytes], context: str) -> Iterator[bytes]:
        """Sealed bytes of the plaintext ``chunks`` (any sizes), header first."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        data_key, prefix, header = self.new_data_key(context)
        yield MAGIC + struct.pack(">I", len(header)) + header
        aes = AESGCM(data_key)
        buf, index = b"", 0
        for piece in chunks:
            buf += piece
            while len(buf) > CHUNK:  # keep at least one byte back: the last chunk must be flagged
                yield aes.encrypt(_nonce(prefix, index), buf[:CHUNK], _aad(header, index, False))
                buf, index = buf[CHUNK:], index + 1
        yield aes.encrypt(_nonce(prefix, index), buf, _aad(header, index, True))

    def seal_bytes(self, data: bytes, context: str) -> bytes:
        return b"".join(self.seal_chunks([data], context))

    def seal_file(self, src: str | os.PathLike[str], dest: str | os.PathLike[str], context: str) -> None:
        """Write ``src`` sealed to ``dest`` (mode 0600)."""
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as out:
            for part in self.seal_chunks(iter(lambda: fin.read(CHUNK), b""), context):
                out.write(part)

    # opening ---------------------------------------------------------------------------------
    @staticmethod
    def read_header(fh: IO[bytes], what: str) -> Header:
        """Parse the header at the start of ``fh`` (left just past it).

        Raises:
            DecryptionError: naming ``what`` when the header is damaged.
        """
        head = fh.read(len(MAGIC) + 4)
        if not is_sealed(head) or len(head) < len(MAGIC) + 4:
            raise DecryptionError(f"{what} is not a sealed object (its header is missing or damaged)")
        (size,) = struct.unpack(">I", head[len(MAGIC) :])
        return Envelope.parse_header(fh.read(size) if size < 1 << 16 else b"", what)

    def open_chunks(self, fh: IO[bytes], context: str, what: str) -> Iterator[bytes]:
        """Plaintext chunks of the sealed object read from ``fh``; each is authenticated first.

        Raises:
            DecryptionError: naming ``what`` when any byte was altered, chunks were reordered or cut.
            NotFoundError: when the master key that sealed it is not available.
        """
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        header = self.read_header(fh, what)
        aes = AESGCM(self.data_key(header, context, what))
        block = CHUNK + _TAG
        current, index = fh.read(block), 0
        while True:
            following = fh.read(block) if len(current) == block else b""
            last = not following
            try:
                yield aes.decrypt(_nonce(header.prefix, index), current, _aad(header.raw, index, last))
            except (InvalidTag, ValueError):
                raise DecryptionError(
                    f"{what} failed decryption at chunk {index}: its encrypted bytes were altered or cut"
                ) from None
            if last:
                return
            current, index = following, index + 1

    def open_bytes(self, data: bytes, context: str, what: str) -> bytes:
        import io

        return b"".join(self.open_chunks(io.BytesIO(data), context, what))


__all__ = ["CHUNK", "MAGIC", "DecryptionError", "Envelope", "Header", "is_sealed"]
