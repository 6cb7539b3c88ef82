"""Large invocations, kept off the worker's event loop.

A request body of ``INLINE_BODY_BYTES`` or more is parsed (Arrow for CSV), predicted and encoded
on the predict thread pool, so the worker goes on answering small requests and ``/ping`` while it
runs (before, one 5.9 MB request held every other request of its worker for seconds). Rows beyond
one micro-batch skip the batcher, so small requests are not queued behind them, and are predicted
and encoded ``CHUNK_ROWS`` at a time: one model call on 400,000 rows holds the GIL for about a
second, one on 4,096 rows for milliseconds, and between chunks the event loop's thread gets it
back. Rows are predicted independently, so the answers are the same as in one call.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from forgeml.errors import ModelError
from forgeml.serving import _codecs as codecs
from forgeml.serving._batching import MicroBatcher

INLINE_BODY_BYTES = 1 << 16  # bodies from this size up are parsed and predicted off the event loop
CHUNK_ROWS = 4096  # a large request predicts and encodes this many rows at a time


async def invoke_large(
    executor: ThreadPoolExecutor, batcher: MicroBatcher, signature: codecs.Signature, body: bytes,
    content_type: str, accept: str, timeout: float,
) -> bytes:  # fmt: skip
    """The response body for one large request.

    Raises:
        ValidationError: the body is malformed. ModelError: the model raised or timed out.
    """
    loop = asyncio.get_running_loop()
    rows = await loop.run_in_executor(executor, signature.parse, body, content_type)
    if len(rows) <= batcher.max_batch_rows:
        predictions = await batcher.submit(rows, timeout=timeout)
    else:
        job = loop.run_in_executor(executor, predict_in_chunks, batcher.predict, rows)
        try:
            predictions = await asyncio.wait_for(job, timeout)
        except TimeoutError:
            raise ModelError(f"the model did not answer within {timeout:g} s") from None
    return await loop.run_in_executor(executor, encode_in_chunks, predictions, accept, CHUNK_ROWS)


def predict_in_chunks(predict: Any, rows: list[list[Any]]) -> list[dict[str, Any]]:
    """``predict(rows, offset)`` a chunk at a time (errors name records of the whole request)."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        out.extend(predict(rows[start : start + CHUNK_ROWS], start))
        time.sleep(0)  # let the event loop's thread run
    return out


def encode_in_chunks(predictions: list[dict[str, Any]], accept: str, chunk: int) -> bytes:
    """:func:`codecs.encode`, ``chunk`` records at a time; the same bytes as one call."""
    parts = []
    for start in range(0, len(predictions), chunk):
        parts.append(codecs.encode(predictions[start : start + chunk], accept))
        time.sleep(0)  # let the event loop's thread run
    if accept != codecs.JSON:
        return b"".join(parts)
    inner = [p[len(b'{"predictions":[') : -2] for p in parts]
    return b'{"predictions":[' + b",".join(i for i in inner if i) + b"]}"


__all__ = ["CHUNK_ROWS", "INLINE_BODY_BYTES", "encode_in_chunks", "invoke_large", "predict_in_chunks"]
