"""Contract suite every :class:`~forgeml.serving._async_queue.AsyncQueue` must pass.

Use it from a test module that defines an ``async_queue`` fixture yielding a fresh, empty queue
(a new file or a unique Redis key prefix)::

    from forgeml.testing.queue_contract import *  # noqa: F403
"""

from __future__ import annotations

import threading

import pytest

from forgeml.errors import AlreadyExistsError, ConflictError, NotFoundError
from forgeml.serving._async_queue import AsyncQueue, AsyncRequest

__all__ = [
    "test_claim_is_fifo_and_hides_the_request",
    "test_complete_is_idempotent",
    "test_concurrent_claims_never_share_a_request",
    "test_duplicate_inference_id_and_full_queue",
    "test_endpoints_are_separate_and_drop",
    "test_redelivery_after_the_visibility_deadline",
    "test_unknown_request",
]

EP = "contract-ep"
T0 = 1_000_000.0


def req(inference_id: str, at: float = T0, timeout: float = 5.0, body: bytes | None = b"1,2,red\n", endpoint: str = EP) -> AsyncRequest:
    return AsyncRequest(
        endpoint=endpoint, inference_id=inference_id, output_location=f"/out/{inference_id}.out",
        failure_location=f"/fail/{inference_id}.error", enqueued_at=at, expires_at=at + 60, invocation_timeout=timeout,
        content_type="text/csv", body=body, input_location=None if body is not None else "artifact/abcd",
    )  # fmt: skip


def test_claim_is_fifo_and_hides_the_request(async_queue: AsyncQueue) -> None:
    async_queue.put(req("b", T0 + 1), max_size=10)
    async_queue.put(req("a", T0), max_size=10)
    async_queue.put(req("c", T0 + 2, body=None), max_size=10)
    assert async_queue.depth(EP) == 3
    assert async_queue.claim(EP, T0 - 1) is None  # not visible yet
    first = async_queue.claim(EP, T0 + 5)
    assert first is not None and first.inference_id == "a" and first.state == "InProgress" and first.attempts == 1
    assert first.body == b"1,2,red\n" and first.content_type == "text/csv" and first.output_location == "/out/a.out"
    second, third = async_queue.claim(EP, T0 + 5), async_queue.claim(EP, T0 + 5)
    assert second is not None and second.inference_id == "b"
    assert third is not None and third.inference_id == "c" and third.body is None and third.input_location == "artifact/abcd"
    assert async_queue.claim(EP, T0 + 5) is None  # all in flight
    assert async_queue.depth(EP) == 3  # in flight counts as backlog
    assert async_queue.get(EP, "a").state == "InProgress"


def test_redelivery_after_the_visibility_deadline(async_queue: AsyncQueue) -> None:
    async_queue.put(req("a", timeout=5.0), max_size=10)
    assert async_queue.claim(EP, T0) is not None  # the worker "dies" here
    deadline = T0 + async_queue.visibility(5.0)
    assert async_queue.visibility(5.0) == 5.0 + min(5.0, async_queue.grace)
    assert async_queue.claim(EP, deadline - 0.01) is None
    again = async_queue.claim(EP, deadline + 0.01)
    assert again is not None and again.inference_id == "a" and again.attempts == 2
    assert async_queue.complete(EP, "a", "Completed", deadline + 1)
    assert async_queue.claim(EP, deadline + 1e6) is None  # done: never delivered again


def test_complete_is_idempotent(async_queue: AsyncQueue) -> None:
    async_queue.put(req("a"), max_size=10)
    async_queue.put(req("b"), max_size=10)
    async_queue.claim(EP, T0)
    assert async_queue.complete(EP, "a", "Completed", T0 + 1) is True
    assert async_queue.complete(EP, "a", "Failed", T0 + 2, "late") is False  # the first outcome stays
    done = async_queue.get(EP, "a")
    assert done.state == "Completed" and done.finished_at == T0 + 1 and done.failure_reason is None and done.body is None
    assert async_queue.complete(EP, "b", "Failed", T0 + 3, "request expired") is True  # straight from the queue
    failed = async_queue.get(EP, "b")
    assert failed.state == "Failed" and failed.failure_reason == "request expired"
    assert async_queue.depth(EP) == 0


def test_completed_requests_stay_unnotified_until_marked(async_queue: AsyncQueue) -> None:
    """The outbox: an outcome recorded but not announced (its dispatcher was killed in between)
    is listed until it is marked notified; a second completion does not list it again."""
    for i in ("a", "b", "c"):
        async_queue.put(req(i), max_size=10)
    assert async_queue.unnotified(EP) == []
    async_queue.complete(EP, "a", "Completed", T0 + 1)
    async_queue.complete(EP, "b", "Failed", T0 + 1, "boom")
    assert sorted((r.inference_id, r.state) for r in async_queue.unnotified(EP)) == [("a", "Completed"), ("b", "Failed")]
    async_queue.mark_notified(EP, "a")
    assert async_queue.complete(EP, "a", "Failed", T0 + 2) is False
    assert [r.inference_id for r in async_queue.unnotified(EP)] == ["b"]
    assert async_queue.unnotified("other-endpoint") == []
    async_queue.mark_notified(EP, "b")
    assert async_queue.unnotified(EP) == []


def test_duplicate_inference_id_and_full_queue(async_queue: AsyncQueue) -> None:
    async_queue.put(req("a"), max_size=2)
    with pytest.raises(AlreadyExistsError, match="InferenceId 'a'"):
        async_queue.put(req("a"), max_size=2)
    async_queue.put(req("b"), max_size=2)
    with pytest.raises(ConflictError, match="is full"):
        async_queue.put(req("c"), max_size=2)
    async_queue.claim(EP, T0)
    async_queue.complete(EP, "a", "Completed", T0)
    async_queue.put(req("c"), max_size=2)  # room again
    assert async_queue.depth(EP) == 2


def test_endpoints_are_separate_and_drop(async_queue: AsyncQueue) -> None:
    async_queue.put(req("a"), max_size=10)
    async_queue.put(req("a", endpoint="other"), max_size=10)
    assert async_queue.depth(EP) == 1 and async_queue.depth("other") == 1
    got = async_queue.claim("other", T0)
    assert got is not None and got.endpoint == "other"
    assert async_queue.claim("other", T0) is None
    assert async_queue.drop("other") == 1
    assert async_queue.depth("other") == 0 and async_queue.depth(EP) == 1
    with pytest.raises(NotFoundError):
        async_queue.get("other", "a")


def test_unknown_request(async_queue: AsyncQueue) -> None:
    with pytest.raises(NotFoundError, match="no async request 'nope'"):
        async_queue.get(EP, "nope")
    with pytest.raises(NotFoundError):
        async_queue.complete(EP, "nope", "Completed", T0)
    assert async_queue.depth(EP) == 0


def test_concurrent_claims_never_share_a_request(async_queue: AsyncQueue) -> None:
    n = 60
    for i in range(n):
        async_queue.put(req(f"r{i:03d}", T0 + i), max_size=n)
    got: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        while (item := async_queue.claim(EP, T0 + n)) is not None:
            if async_queue.complete(EP, item.inference_id, "Completed", T0 + n):
                with lock:
                    got.append(item.inference_id)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"r{i:03d}" for i in range(n)]
