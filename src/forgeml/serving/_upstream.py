"""A small pooled HTTP/1.1 client for ``forgeml server``'s calls to the endpoints' own servers.

The proxy's only traffic is ``POST /invocations`` to ``127.0.0.1:<port>`` of a ForgeML endpoint,
so a general-purpose client buys nothing and costs a lot: httpx's ``AsyncClient`` managed about
90 requests/s at 64 concurrent callers against an endpoint that answers 7,000/s directly
(measured, benchmarks/bench_proxy.py). This client keeps idle keep-alive connections per
address (asyncio streams), writes each request as one buffer and parses the answer with
``httptools`` (the C parser uvicorn uses).

An idle connection is dropped before the endpoint's own keep-alive timeout closes it; a request
that finds its reused connection closed by the server before any byte of the answer came back
is retried once on a new connection (the server never saw it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httptools


class UpstreamError(OSError):
    """The endpoint's server could not be reached, or broke the connection or the protocol."""


@dataclass
class Answer:
    """One response: status, headers (lower-case names) and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class _Reading:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class UpstreamPool:
    """Keep-alive connections to endpoint servers, per ``(host, port)``.

    Args:
        keep: the most idle connections kept per address (0: close after every request).
        idle_seconds: an idle connection older than this is closed instead of reused.
    """

    def __init__(self, keep: int = 256, idle_seconds: float = 4.0) -> None:
        self.keep = keep
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple[str, int], list[_Connection]] = defaultdict(list)
        self.opened = 0  # connections opened so far (the tests and the benchmark look)

    def idle(self) -> int:
        """Idle connections held now."""
        return sum(len(v) for v in self._idle.values())

    async def post(
        self, host: str, port: int, path: str, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float,
        ssl: Any = None,
    ) -> Answer:  # fmt: skip
        """``POST path`` with ``headers`` (already checked: visible ASCII) and ``body``.

        Raises:
            UpstreamError: no connection, a broken one, a malformed answer or no answer in time.
        """
        head = [b"POST ", path.encode("ascii"), b" HTTP/1.1\r\nhost: ", f"{host}:{port}".encode(), b"\r\n"]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-length: %d\r\n\r\n" % len(body))
        request = b"".join(head) + body
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                conn, reused = await self._connection(host, port, ssl)
                try:
                    answer, keep = await self._exchange(conn, request)
                except _ClosedBeforeAnswer:
                    conn.close()
                    if not reused:
                        raise UpstreamError("the endpoint closed the connection without answering") from None
                    conn, _ = await self._open(host, port, ssl)  # a stale keep-alive connection: once more
                    answer, keep = await self._exchange(conn, request)
        except BaseException as exc:  # never pool a connection an exchange broke off (cancelled too)
            if conn is not None:
                conn.close()
            if isinstance(exc, UpstreamError) or not isinstance(exc, Exception):
                raise
            if isinstance(exc, TimeoutError):
                raise UpstreamError(f"no answer within {timeout:g} s") from None
            if isinstance(exc, (OSError, httptools.HttpParserError, _ClosedBeforeAnswer)):
                raise UpstreamError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
            raise
        self._release(host, port, conn, keep)
        return answer

    async def _connection(self, host: str, port: int, ssl: Any = None) -> tuple[_Connection, bool]:
        idle = self._idle.get((host, port))
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.idle_seconds and not conn.reader.at_eof():
                return conn, True
            conn.close()
        return await self._open(host, port, ssl)

    async def _open(self, host: str, port: int, ssl: Any = None) -> tuple[_Connection, bool]:
        """A new connection; over TLS when ``ssl`` (an SSLContext verifying the endpoint) is given."""
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl)
        self.opened += 1
        return _Connection(reader, writer), False

    async def _exchange(self, conn: _Connection, request: bytes) -> tuple[Answer, bool]:
        reading = _Reading()
        parser = httptools.HttpResponseParser(reading)
        conn.writer.write(request)
        got_any = False
        while not reading.done:
            try:
                data = await conn.reader.read(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                if not got_any:
                    raise _ClosedBeforeAnswer
                raise UpstreamError("the endpoint closed the connection in the middle of its answer")
            got_any = True
            parser.feed_data(data)
        answer = Answer(parser.get_status_code(), reading.headers, b"".join(reading.body))
        # HTTP/1.1 keeps the connection unless the server says close (httptools' own
        # should_keep_alive() answers False once the message is complete)
        close = any(k == b"connection" and b"close" in v.lower() for k, v in reading.headers)
        return answer, parser.get_http_version() == "1.1" and not close

    def _release(self, host: str, port: int, conn: _Connection, keep: bool) -> None:
        idle = self._idle[(host, port)]
        if keep and len(idle) < self.keep:
            conn.idle_since = time.monotonic()
            idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        conns = [c for v in self._idle.values() for c in v]
        self._idle.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()


class _ClosedBeforeAnswer(Exception):
    pass


__all__ = ["Answer", "UpstreamError", "UpstreamPool"]
