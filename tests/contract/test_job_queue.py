"""The job queue contract, on the in-process queue and on the machine's RabbitMQ (own uuid-prefixed
queues, deleted at teardown)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from relayflow.cluster.ports import Delivery, Job, JobQueue
from relayflow.cluster.queue_memory import MemoryJobQueue
from relayflow.errors import OperationalError
from relayflow.testing import services

BACKENDS = ["memory", pytest.param("rabbitmq", marks=pytest.mark.services)]
OpenQueue = Callable[..., Awaitable[JobQueue]]


@pytest.fixture(params=BACKENDS)
async def open_queue(request: pytest.FixtureRequest) -> AsyncIterator[OpenQueue]:
    """``await open_queue(shards=..., max_deliveries=...)``; everything opened is closed (and its
    RabbitMQ queues deleted) at teardown."""
    opened: list[Any] = []
    if request.param == "rabbitmq":
        from relayflow.cluster.queue_rabbit import RabbitJobQueue, amqp_url

        if not services.tcp_open("127.0.0.1", 5672):
            services.require_or_skip("RabbitMQ", "nothing listens at 127.0.0.1:5672")
        prefix = f"relayflow-test-{uuid.uuid4().hex[:12]}"

        async def open_rabbit(**kwargs: Any) -> JobQueue:
            queue = await RabbitJobQueue.connect(amqp_url(), prefix=f"{prefix}-{len(opened)}", **kwargs)
            opened.append(queue)
            return queue

        yield open_rabbit
        for queue in opened:
            await queue.drop()
            await queue.close()
        return

    async def open_memory(**kwargs: Any) -> JobQueue:
        queue = MemoryJobQueue(**kwargs)
        opened.append(queue)
        return queue

    yield open_memory
    for queue in opened:
        await queue.close()


class Reader:
    """Pulls from ``consume`` without ever cancelling it mid-wait (a cancelled async generator is
    finished, which would give its deliveries back)."""

    def __init__(self, queue: JobQueue, shards: list[int], prefetch: int) -> None:
        self._iterator = queue.consume(shards, prefetch=prefetch)
        self._pending: asyncio.Future[Delivery] | None = None

    async def next(self, wait_s: float = 5.0) -> Delivery | None:
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self._iterator))
        done, _ = await asyncio.wait({self._pending}, timeout=wait_s)
        if not done:
            return None
        delivery, self._pending = self._pending.result(), None
        return delivery

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)
        await self._iterator.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def readers() -> AsyncIterator[Callable[..., Reader]]:
    made: list[Reader] = []

    def make(queue: JobQueue, shards: list[int], *, prefetch: int = 10) -> Reader:
        made.append(Reader(queue, shards, prefetch))
        return made[-1]

    yield make
    for reader in made:
        await reader.close()


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def depth_is(queue: JobQueue, shard: int, expected: int) -> None:
    async def check() -> bool:
        return await queue.depth(shard) == expected

    await eventually(check)


def job(n: int | str, **kwargs: Any) -> Job:
    return Job(execution_id=f"exec-{n}", **kwargs)


async def test_publish_consume_ack(open_queue: OpenQueue, readers: Callable[..., Reader]) -> None:
    queue = await open_queue(shards=2)
    sent = Job("exec-1", workflow_id="wf-1", project_id="p-1", headers={"traceparent": "00-abc-def-01"})
    await queue.publish(sent, shard=1)
    await depth_is(queue, 1, 1)
    reader = readers(queue, [0, 1])
    delivery = await reader.next()
    assert delivery is not None
    assert (delivery.job, delivery.shard, delivery.deliveries) == (sent, 1, 1)
    await delivery.ack()
    assert await reader.next(wait_s=0.3) is None
    await depth_is(queue, 1, 0)
    with pytest.raises(OperationalError):
        await delivery.ack()  # settled once only


async def test_reject_with_requeue_redelivers(open_queue: OpenQueue, readers: Callable[..., Reader]) -> None:
    queue = await open_queue()
    await queue.publish(job(1), shard=0)
    reader = readers(queue, [0])
    first = await reader.next()
    assert first is not None and first.deliveries == 1
    await first.reject(requeue=True)
    second = await reader.next()
    assert second is not None
    assert (second.job, second.deliveries) == (job(1), 2)
    await second.ack()
    assert await queue.dead_letters() == []


async def test_a_consumer_closed_without_ack_gives_its_jobs_back(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue()
    for n in range(3):
        await queue.publish(job(n), shard=0)
    crashed = readers(queue, [0], prefetch=2)
    taken = [await crashed.next(), await crashed.next()]
    assert all(d is not None and d.deliveries == 1 for d in taken)
    await crashed.close()  # like a worker whose channel died: nothing acked
    survivor = readers(queue, [0], prefetch=10)
    seen: dict[str, int] = {}
    for _ in range(3):
        delivery = await survivor.next()
        assert delivery is not None
        seen[delivery.job.execution_id] = delivery.deliveries
        await delivery.ack()
    taken_ids = {d.job.execution_id for d in taken if d is not None}
    assert set(seen) == {"exec-0", "exec-1", "exec-2"}
    assert all(seen[i] == 2 for i in taken_ids)
    assert await survivor.next(wait_s=0.3) is None


async def test_poison_job_is_delivered_max_deliveries_times_then_dead_lettered(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    """F12: exactly N deliveries of the poison job, then the dead letters; the healthy jobs all
    get processed, once each."""
    queue = await open_queue(max_deliveries=3)
    await queue.publish(job("poison"), shard=0)
    for n in range(20):
        await queue.publish(job(n), shard=0)
    reader = readers(queue, [0], prefetch=4)
    poison_deliveries: list[int] = []
    healthy: list[str] = []
    while True:
        delivery = await reader.next(wait_s=1.0)
        if delivery is None:
            break
        if delivery.job.execution_id == "exec-poison":
            poison_deliveries.append(delivery.deliveries)
            await delivery.reject(requeue=True)  # the worker keeps failing on it
        else:
            healthy.append(delivery.job.execution_id)
            await delivery.ack()
    assert poison_deliveries == [1, 2, 3]
    assert sorted(healthy) == sorted(f"exec-{n}" for n in range(20))

    async def dead_lettered() -> bool:
        return await queue.dead_letters() == [job("poison")]

    await eventually(dead_lettered)
    await depth_is(queue, 0, 0)


async def test_reject_without_requeue_dead_letters_at_once(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue(max_deliveries=5)
    for n in range(3):
        await queue.publish(job(n, workflow_id="wf"), shard=0)
    reader = readers(queue, [0])
    for _ in range(3):
        delivery = await reader.next()
        assert delivery is not None
        await delivery.reject(requeue=False)

    async def dead_lettered() -> bool:
        return len(await queue.dead_letters()) == 3

    await eventually(dead_lettered)
    # oldest first, and reading is a peek: twice the same answer
    assert await queue.dead_letters() == [job(n, workflow_id="wf") for n in range(3)]
    assert await queue.dead_letters(limit=2) == [job(0, workflow_id="wf"), job(1, workflow_id="wf")]
    assert await reader.next(wait_s=0.3) is None


async def test_high_priority_jobs_are_drained_first(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue(shards=2)
    for n in range(10):
        await queue.publish(job(f"n{n}"), shard=n % 2)
    for n in range(4):
        await queue.publish(job(f"h{n}", priority=1), shard=n % 2)
    await depth_is(queue, 0, 7)
    reader = readers(queue, [0, 1], prefetch=1)
    order: list[str] = []
    for _ in range(14):
        delivery = await reader.next()
        assert delivery is not None
        order.append(delivery.job.execution_id)
        await delivery.ack()
    highs = [i for i, name in enumerate(order) if name.startswith("exec-h")]
    # RabbitMQ may have pushed one normal job per consumer before the first high one was handed
    # out (prefetch is per consumer there); never more
    assert len(highs) == 4 and highs[-1] < 4 + 2, order
    if isinstance(queue, MemoryJobQueue):
        assert highs == [0, 1, 2, 3], order
    assert [order[i] for i in highs if order[i].endswith(("h0", "h2"))] == ["exec-h0", "exec-h2"]


async def test_prefetch_bounds_the_unacked_deliveries(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue()
    for n in range(10):
        await queue.publish(job(n), shard=0)
    reader = readers(queue, [0], prefetch=3)
    held = [await reader.next() for _ in range(3)]
    assert all(held)
    assert await reader.next(wait_s=0.5) is None  # a 4th would exceed the prefetch
    assert held[0] is not None
    await held[0].ack()
    fourth = await reader.next()
    assert fourth is not None
    assert await reader.next(wait_s=0.3) is None
    rejected = held[1]
    assert rejected is not None
    await rejected.reject(requeue=True)  # a reject frees a slot too
    assert await reader.next() is not None


async def test_a_job_not_taken_within_its_ttl_is_dropped(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue()
    await queue.publish(job("manual", priority=1, ttl_s=0.2), shard=0)
    await queue.publish(job("short", ttl_s=0.2), shard=0)
    await queue.publish(job("kept", ttl_s=60), shard=0)
    await queue.publish(job("forever"), shard=0)
    await asyncio.sleep(0.6)
    reader = readers(queue, [0])
    got = []
    while (delivery := await reader.next(wait_s=0.5)) is not None:
        got.append(delivery.job.execution_id)
        await delivery.ack()
    assert got == ["exec-kept", "exec-forever"]
    await depth_is(queue, 0, 0)
    assert await queue.dead_letters() == []  # expiry is not a failure


async def test_depth_counts_ready_jobs_of_both_priorities_per_shard(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue(shards=2)
    await queue.publish(job(1), shard=0)
    await queue.publish(job(2), shard=0)
    await queue.publish(job(3, priority=5), shard=0)
    await queue.publish(job(4), shard=1)
    await depth_is(queue, 0, 3)
    await depth_is(queue, 1, 1)
    reader = readers(queue, [0], prefetch=1)
    delivery = await reader.next()
    assert delivery is not None and delivery.job == job(3, priority=5)

    async def two_left_or_one_more_buffered() -> bool:
        # RabbitMQ has pushed one job to each consumer (high, normal) already: it counts as taken
        return await queue.depth(0) in (1, 2)

    await eventually(two_left_or_one_more_buffered)
    with pytest.raises(ValueError, match="out of range"):
        await queue.depth(2)
    with pytest.raises(ValueError, match="out of range"):
        await queue.publish(job(5), shard=-1)


async def test_a_consumer_gets_only_its_shards(open_queue: OpenQueue, readers: Callable[..., Reader]) -> None:
    queue = await open_queue(shards=3)
    for shard in range(3):
        await queue.publish(job(f"s{shard}"), shard=shard)
        await queue.publish(job(f"s{shard}h", priority=1), shard=shard)
    reader = readers(queue, [0, 2])
    got: list[tuple[int, str]] = []
    while (delivery := await reader.next(wait_s=0.5)) is not None:
        got.append((delivery.shard, delivery.job.execution_id))
        await delivery.ack()
    assert sorted(got) == [(0, "exec-s0"), (0, "exec-s0h"), (2, "exec-s2"), (2, "exec-s2h")]
    await depth_is(queue, 1, 2)


async def test_a_thousand_concurrent_publishes_are_each_consumed_once(
    open_queue: OpenQueue, readers: Callable[..., Reader]
) -> None:
    queue = await open_queue(shards=4)
    await asyncio.gather(*(queue.publish(job(n), shard=n % 4) for n in range(1000)))
    two = [readers(queue, [0, 1], prefetch=50), readers(queue, [2, 3], prefetch=50)]
    seen: list[str] = []

    async def drain(reader: Reader) -> None:
        while (delivery := await reader.next(wait_s=0.5)) is not None:
            seen.append(delivery.job.execution_id)
            assert delivery.deliveries == 1
            await delivery.ack()

    await asyncio.gather(*(drain(reader) for reader in two))
    assert len(seen) == 1000
    assert set(seen) == {f"exec-{n}" for n in range(1000)}
    for shard in range(4):
        await depth_is(queue, shard, 0)


async def test_bad_arguments_are_refused(open_queue: OpenQueue) -> None:
    with pytest.raises(ValueError, match="max_deliveries"):
        await open_queue(max_deliveries=0)
    queue = await open_queue()
    with pytest.raises(ValueError, match="prefetch"):
        await anext(queue.consume([0], prefetch=0))


async def test_closing_the_queue_ends_a_waiting_consumer(open_queue: OpenQueue) -> None:
    queue = await open_queue()
    iterator = queue.consume([0], prefetch=1)
    waiting = asyncio.ensure_future(anext(iterator))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await queue.close()
    with pytest.raises(OperationalError, match="closed"):
        await asyncio.wait_for(waiting, 5)
    await iterator.aclose()  # type: ignore[attr-defined]
