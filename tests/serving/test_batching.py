"""Adaptive micro-batching: concurrent callers share model calls and get their own rows back."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from forgeml.errors import ModelError
from forgeml.serving._batching import MicroBatcher


class Doubler:
    """Predicts 2*x per row, records each call's size, and raises on negative input."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, rows: list[list[Any]]) -> list[dict[str, Any]]:
        self.calls.append(len(rows))
        if any(r[0] < 0 for r in rows):
            raise ModelError("negative input")
        return [{"y": 2 * r[0]} for r in rows]


async def _many(batcher: MicroBatcher, payloads: list[list[list[Any]]]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(p) for p in payloads), return_exceptions=True)


def test_concurrent_callers_share_calls_and_get_their_rows() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_batch_rows=16, max_wait_ms=0)
    payloads = [[[i], [i + 0.5]] for i in range(40)]
    results = asyncio.run(_many(batcher, payloads))
    assert results == [[{"y": 2 * i}, {"y": 2 * i + 1.0}] for i in range(40)]
    assert sum(model.calls) == 80 and max(model.calls) <= 16
    assert len(model.calls) == 5  # 80 rows in batches of at most 16 rows
    assert batcher.batches == 5 and batcher.requests == 40


def test_a_lone_caller_is_not_held() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_batch_rows=64, max_wait_ms=50)

    async def sequential() -> list[Any]:
        return [await batcher.submit([[i]]) for i in range(5)]

    assert asyncio.run(sequential()) == [[{"y": 2 * i}] for i in range(5)]
    assert model.calls == [1, 1, 1, 1, 1]


def test_one_bad_request_fails_alone() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, max_batch_rows=64, max_wait_ms=0)
    results = asyncio.run(_many(batcher, [[[1]], [[-1]], [[3]]]))
    assert results[0] == [{"y": 2}] and results[2] == [{"y": 6}]
    assert isinstance(results[1], ModelError)
    assert model.calls[0] == 3  # one shared call first, then each on its own


@pytest.mark.parametrize("inline_rows", [0, 1000])
def test_large_batches_go_to_a_thread(inline_rows: int) -> None:
    model = Doubler()
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(model, max_batch_rows=1000, max_wait_ms=0, inline_rows=inline_rows, executor=pool)
        results = asyncio.run(_many(batcher, [[[i] for i in range(100)]]))
    assert results == [[{"y": 2 * i} for i in range(100)]]


def test_a_model_that_does_not_answer_in_time_is_a_model_error() -> None:
    import time

    def slow(rows: list[list[Any]]) -> list[dict[str, Any]]:
        time.sleep(0.5)
        return [{"y": 0} for _ in rows]

    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(slow, inline_rows=0, executor=pool)
        with pytest.raises(ModelError, match=r"did not answer within 0\.05 s"):
            asyncio.run(batcher.submit([[1]], timeout=0.05))
