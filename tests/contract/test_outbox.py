"""Outbox contract (memory, SQLite, PostgreSQL) and the relay over it: the execution row and its
outbox row commit together, and the relay publishes every row, in order per shard, through a
broker that fails."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relayflow.cluster.outbox_memory import MemoryOutbox
from relayflow.cluster.ports import Delivery, Job
from relayflow.cluster.relay import OutboxRelay
from relayflow.engine.memory import FakeClock
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.errors import InputInvalid, OperationalError
from relayflow.store.memory import MemoryExecutionStore
from relayflow.store.ports import ExecutionStore
from relayflow.store.sql import executions as sql_executions
from relayflow.store.sql import outbox as sql_outbox
from relayflow.store.sql.outbox import SqlOutbox, open_outbox

Outbox = MemoryOutbox | SqlOutbox


@pytest.fixture
async def box(db_url: str | None, clock: FakeClock, executions: ExecutionStore) -> AsyncIterator[Outbox]:
    if db_url is None:
        assert isinstance(executions, MemoryExecutionStore)
        store: Outbox = MemoryOutbox(executions, clock)
    else:
        store = await open_outbox(db_url, clock=clock)
    yield store
    await store.close()


def _record(execution_id: str) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id, "wf1", "queued one", "webhook", ExecutionStatus.QUEUED, datetime(2024, 1, 1, tzinfo=UTC)
    )


def _job(execution_id: str | None = None, **kw: Any) -> Job:
    return Job(execution_id or str(uuid.uuid4()), workflow_id="wf1", **kw)


async def test_enqueue_writes_the_execution_and_its_row(box: Outbox, executions: ExecutionStore) -> None:
    job = _job(priority=5, ttl_s=30.0, project_id="p1", headers={"traceparent": "00-abc-def-01"})
    row_id = await box.enqueue(job, shard=3, record=_record(job.execution_id))
    stored = await executions.get(job.execution_id)
    assert stored is not None and stored.status == ExecutionStatus.QUEUED
    [row] = await box.pending()
    assert (row.id, row.job, row.shard) == (row_id, job, 3)
    assert row.created_at.tzinfo is not None


async def test_a_failure_after_the_execution_insert_leaves_neither_row(
    box: Outbox, executions: ExecutionStore
) -> None:
    job = _job()
    # memory checks the shard first; SQL stores the execution row, then fails on the outbox
    # row (a shard past the 32-bit column): the transaction rolls both back
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own
        await box.enqueue(job, shard=2**70, record=_record(job.execution_id))
    assert await executions.get(job.execution_id) is None
    assert await box.pending() == []
    assert await box.lag() == (0, 0.0)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def test_the_sql_failure_is_inside_the_transaction(
    box: Outbox, executions: ExecutionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The execution row really was written before the outbox insert failed."""
    started: list[str] = []
    real = sql_executions._start

    def spy(db: Any, row: dict[str, Any], resumed: bool, conn: Any) -> int:
        result = real(db, row, resumed, conn)
        started.append(row["id"])
        return result

    monkeypatch.setattr(sql_outbox, "_start", spy)
    job = _job()
    with pytest.raises(Exception):  # noqa: B017
        await box.enqueue(job, shard=2**70, record=_record(job.execution_id))
    assert job.execution_id in started
    assert await executions.get(job.execution_id) is None
    # and the same call with a good shard commits both
    await box.enqueue(job, shard=1, record=_record(job.execution_id))
    assert await executions.get(job.execution_id) is not None
    assert [r.job.execution_id for r in await box.pending()] == [job.execution_id]


async def test_bad_calls_are_refused(box: Outbox) -> None:
    with pytest.raises(InputInvalid):
        await box.enqueue(_job(), shard=-1)
    with pytest.raises(InputInvalid):
        await box.enqueue(_job("a"), shard=0, record=_record("b"))
    with pytest.raises(InputInvalid):
        await box.pending(limit=0)
    assert await box.pending() == []


async def test_pending_is_oldest_first_until_marked_sent(box: Outbox) -> None:
    jobs = [_job() for _ in range(5)]
    ids = [await box.enqueue(job, shard=n % 2) for n, job in enumerate(jobs)]
    assert ids == sorted(ids)
    assert [r.job for r in await box.pending()] == jobs
    assert [r.id for r in await box.pending(limit=2)] == ids[:2]
    await box.mark_sent([ids[0], ids[3], 10**9])  # unknown ids are ignored
    await box.mark_sent([ids[0]])  # twice is once
    assert [r.id for r in await box.pending()] == [ids[1], ids[2], ids[4]]
    await box.mark_sent([])
    await box.mark_sent(ids)
    assert await box.pending() == []


async def test_lag_counts_the_unsent_and_the_oldest_age(box: Outbox, clock: FakeClock) -> None:
    assert await box.lag() == (0, 0.0)
    first = await box.enqueue(_job(), shard=0)
    clock.advance(4)
    await box.enqueue(_job(), shard=0)
    clock.advance(3)
    assert await box.lag() == (2, 7.0)
    await box.mark_sent([first])
    assert await box.lag() == (1, 3.0)


async def test_purge_sent_deletes_only_old_sent_rows(box: Outbox, clock: FakeClock) -> None:
    sent = await box.enqueue(_job(), shard=0)
    unsent = await box.enqueue(_job(), shard=0)
    await box.mark_sent([sent])
    assert await box.purge_sent(before=clock.now()) == 0
    assert await box.purge_sent(before=clock.now() + timedelta(seconds=1)) == 1
    assert [r.id for r in await box.pending()] == [unsent]


# --- the relay -----------------------------------------------------------------------------------


class FlakyQueue:
    """A JobQueue fake that confirms or refuses publishes; ``fails(n)`` decides for the n-th call."""

    shards = 4
    max_deliveries = 5

    def __init__(self, fails: Callable[[int], bool]) -> None:
        self.fails = fails
        self.calls = 0
        self.published: dict[int, list[str]] = {}

    async def publish(self, job: Job, *, shard: int) -> None:
        self.calls += 1
        call = self.calls
        await asyncio.sleep(0)  # the confirm's round trip: other shards publish meanwhile
        if self.fails(call):
            raise OperationalError("broker unavailable")
        self.published.setdefault(shard, []).append(job.execution_id)

    def consume(self, shards: Sequence[int], *, prefetch: int) -> AsyncIterator[Delivery]:
        raise NotImplementedError

    async def depth(self, shard: int) -> int:
        return len(self.published.get(shard, []))

    async def dead_letters(self, *, limit: int = 100) -> list[Job]:
        return []

    async def close(self) -> None:
        pass


async def _until(done: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if await done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not done in time")


async def _drained(relay: OutboxRelay) -> None:
    async def empty() -> bool:
        return (await relay.lag())[0] == 0

    await _until(empty)


async def _fill(box: Outbox, count: int, shards: int) -> dict[int, list[str]]:
    expected: dict[int, list[str]] = {}
    for n in range(count):
        job = _job()
        await box.enqueue(job, shard=n % shards)
        expected.setdefault(n % shards, []).append(job.execution_id)
    return expected


async def test_the_relay_publishes_everything_once_in_order_through_a_flaky_broker(box: Outbox) -> None:
    queue = FlakyQueue(lambda n: n % 3 == 0)  # every third publish fails
    expected = await _fill(box, 60, 3)
    relay = OutboxRelay(box, queue, interval_s=0.01, batch=16, max_backoff_s=0.02)
    relay.start()
    try:
        await _drained(relay)
    finally:
        await relay.close()
    assert queue.published == expected  # each shard in commit order, nothing twice, nothing lost
    assert relay.published == 60 and relay.failures >= 60 // 3
    assert await box.pending() == []
    assert await relay.lag() == (0, 0.0)


async def test_a_broker_outage_delays_but_loses_nothing(box: Outbox, clock: FakeClock) -> None:
    down = True
    queue = FlakyQueue(lambda _n: down)
    expected = await _fill(box, 10, 2)
    relay = OutboxRelay(box, queue, interval_s=0.01, max_backoff_s=0.05)
    relay.start()
    try:

        async def failed_often() -> bool:
            return relay.failures >= 5

        await _until(failed_often)
        clock.advance(12)
        assert await relay.lag() == (10, 12.0)  # kept, and the lag shows it
        down = False
        await _drained(relay)
        # rows enqueued later go out too (and wake() skips the wait)
        late = _job()
        await box.enqueue(late, shard=0)
        relay.wake()
        await _drained(relay)
    finally:
        await relay.close()
    expected[0].append(late.execution_id)
    assert queue.published == expected


async def test_one_round_reports_what_it_did(box: Outbox) -> None:
    queue = FlakyQueue(lambda n: n == 2)
    expected = await _fill(box, 4, 1)
    relay = OutboxRelay(box, queue, batch=10)
    # the second publish fails: the first is sent, the rest of the shard waits for its turn
    assert await relay.run_once() == (1, True)
    assert [r.job.execution_id for r in await box.pending()] == expected[0][1:]
    assert await relay.run_once() == (3, False)
    assert queue.published == expected
    assert await relay.run_once() == (0, False)


async def test_the_relay_feeds_the_memory_queue(box: Outbox) -> None:
    from relayflow.cluster.queue_memory import MemoryJobQueue

    queue = MemoryJobQueue(shards=2)
    expected = await _fill(box, 6, 2)
    relay = OutboxRelay(box, queue)
    assert await relay.run_once() == (6, False)
    assert [await queue.depth(s) for s in (0, 1)] == [3, 3]
    got: list[str] = []
    deliveries = queue.consume([1], prefetch=10)
    for _ in range(3):
        delivery = await asyncio.wait_for(anext(deliveries), 5)
        got.append(delivery.job.execution_id)
        await delivery.ack()
    assert got == expected[1]
    await queue.close()
