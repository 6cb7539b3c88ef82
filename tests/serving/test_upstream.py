"""The proxy's pooled HTTP/1.1 client against real loopback servers: reuse, stale connections,
broken answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from forgeml.serving._upstream import UpstreamError, UpstreamPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head + await reader.readexactly(length)


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n" + extra + b"content-length: %d\r\n\r\n" % len(body) + body


def test_connections_are_reused_and_headers_pass_as_bytes() -> None:
    seen: list[bytes] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                request = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append(request)
            writer.write(_answer(request.rsplit(b"\r\n\r\n", 1)[1].upper(), b"x-amzn-invoked-production-variant: A\r\n"))
            await writer.drain()
        writer.close()

    async def go() -> None:
        server, port = await _serve(handler)
        pool = UpstreamPool()
        try:
            for i in range(5):
                answer = await pool.post("127.0.0.1", port, "/invocations", [(b"accept", b"text/csv")], b"row %d" % i, timeout=5)
                assert answer.status == 200 and answer.body == b"ROW %d" % i
                assert (b"x-amzn-invoked-production-variant", b"A") in answer.headers
        finally:
            await pool.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(go())
    assert connections == 1 and len(seen) == 5
    assert seen[0].startswith(b"POST /invocations HTTP/1.1\r\n") and b"\r\naccept: text/csv\r\n" in seen[0]


def test_a_connection_the_server_closed_while_idle_is_retried_once() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(_answer(b"ok"))  # keep-alive by HTTP/1.1 rules, then closed: a keep-alive timeout
        await writer.drain()
        writer.close()

    async def go() -> None:
        server, port = await _serve(handler)
        pool = UpstreamPool()
        try:
            for _ in range(3):
                answer = await pool.post("127.0.0.1", port, "/invocations", [], b"x", timeout=5)
                assert answer.body == b"ok"
                await asyncio.sleep(0.05)  # the close reaches the idle connection
        finally:
            await pool.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(go())
    assert connections == 3


@pytest.mark.parametrize(
    ("reply", "words"),
    [(b"", "closed the connection without answering"), (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "in the middle of its answer"),
     (b"NOT HTTP\r\n\r\n", "HttpParserError")],
)  # fmt: skip
def test_broken_answers_are_upstream_errors(reply: bytes, words: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def go() -> None:
        server, port = await _serve(handler)
        pool = UpstreamPool()
        try:
            with pytest.raises(UpstreamError, match=words):
                await pool.post("127.0.0.1", port, "/invocations", [], b"x", timeout=5)
            assert pool.idle() == 0  # a broken connection is never pooled
        finally:
            await pool.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(go())


def test_no_server_is_an_upstream_error() -> None:
    async def go() -> None:
        server, port = await _serve(lambda r, w: asyncio.sleep(0))
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamError):
            await UpstreamPool().post("127.0.0.1", port, "/invocations", [], b"x", timeout=5)

    asyncio.run(go())
