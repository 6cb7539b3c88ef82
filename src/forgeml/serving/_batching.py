"""Adaptive micro-batching: concurrent requests share one model call.

Each request hands its rows to the batcher and awaits a future. One drain task takes everything
that has queued up (at most ``max_batch_rows``), predicts once and fans the results back out.
Under a single caller a batch is one request and nobody waits; as concurrency grows, requests
pile up while the previous batch predicts, and while recent batches held more than one request
the batcher keeps a batch open, one event-loop turn at a time, for as long as new requests keep
arriving (at most ``max_wait_ms``). It never sleeps on a timer: with closed-loop clients every
waiting caller is usually in the batch already, and a timed wait would only idle the worker
(measured: a fixed 1 ms window capped a worker at ~16 requests per millisecond-and-a-bit).

Small batches predict on the event loop (a thread hop costs more than a 20-row tree ensemble);
large ones go to a worker thread so ``/ping`` and parsing keep running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from forgeml.errors import ForgeError, ModelError

Predict = Callable[[list[list[Any]]], list[dict[str, Any]]]


class MicroBatcher:
    """Collects rows from concurrent callers of one model and predicts them together.

    Args:
        predict: the model call, rows in, one dict per row out.
        max_batch_rows: the most rows per model call.
        max_wait_ms: how long a batch may stay open for more requests under concurrency.
        inline_rows: batches up to this many rows predict on the event loop.
        executor: the thread pool for larger batches.
    """

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch_rows: int = 256,
        max_wait_ms: float = 1.0,
        inline_rows: int = 64,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.predict = predict
        self.max_batch_rows = max_batch_rows
        self.max_wait = max_wait_ms / 1000.0
        self.inline_rows = inline_rows
        self.executor = executor
        self._queue: list[tuple[list[list[Any]], asyncio.Future[list[dict[str, Any]]]]] = []
        self._task: asyncio.Task[None] | None = None
        self._recent = 1.0  # moving average of requests per batch
        self.batches = 0
        self.requests = 0

    async def submit(self, rows: list[list[Any]], timeout: float | None = None) -> list[dict[str, Any]]:
        """Predictions for ``rows``, computed in a batch with other callers' rows.

        Raises:
            ModelError: the model raised, or gave no answer within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self._queue.append((rows, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        timer = loop.call_later(timeout, _expire, future, timeout) if timeout else None
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await asyncio.sleep(0)  # let requests already read off the sockets join
            if self.max_wait and self._recent >= 1.5:
                # under concurrency, keep the batch open while requests keep arriving (one event
                # loop turn at a time, at most max_wait); never idle waiting for nobody
                deadline = loop.time() + self.max_wait
                seen = len(self._queue)
                while self._rows() < self.max_batch_rows and loop.time() < deadline:
                    await asyncio.sleep(0)
                    if len(self._queue) == seen:
                        break
                    seen = len(self._queue)
            batch = self._take()
            self.batches += 1
            self.requests += len(batch)
            self._recent = 0.8 * self._recent + 0.2 * len(batch)
            await self._run(batch)

    def _rows(self) -> int:
        return sum(len(rows) for rows, _ in self._queue)

    def _take(self) -> list[tuple[list[list[Any]], asyncio.Future[list[dict[str, Any]]]]]:
        batch, count = [], 0
        while self._queue:
            rows, future = self._queue[0]
            if batch and count + len(rows) > self.max_batch_rows:
                break
            self._queue.pop(0)
            if future.done():  # the caller gave up (timeout or disconnect)
                continue
            batch.append((rows, future))
            count += len(rows)
        return batch

    async def _call(self, rows: list[list[Any]]) -> list[dict[str, Any]]:
        if len(rows) <= self.inline_rows or self.executor is None:
            return self.predict(rows)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.predict, rows)

    async def _run(self, batch: list[tuple[list[list[Any]], asyncio.Future[list[dict[str, Any]]]]]) -> None:
        if not batch:
            return
        rows = [row for part, _ in batch for row in part]
        try:
            results = await self._call(rows)
        except ForgeError as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            # one bad request must not fail its neighbours: retry each on its own
            for part, future in batch:
                try:
                    _settle(future, value=await self._call(part))
                except ForgeError as inner:
                    _settle(future, error=inner)
            return
        except Exception as exc:  # a bug in the runner: fail the callers, keep serving
            for _, future in batch:
                _settle(future, error=exc)
            return
        start = 0
        for part, future in batch:
            _settle(future, value=results[start : start + len(part)])
            start += len(part)


def _expire(future: asyncio.Future[Any], timeout: float) -> None:
    if not future.done():
        future.set_exception(ModelError(f"the model did not answer within {timeout:g} s"))


def _settle(future: asyncio.Future[Any], *, value: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


__all__ = ["MicroBatcher"]
