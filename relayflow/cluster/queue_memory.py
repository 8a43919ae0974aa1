"""The in-process job queue: the embedded default and the fake of the unit tests.

It keeps the RabbitMQ adapter's semantics (the contract suite runs on both): per shard a high and
a normal queue, high drained first; at most ``prefetch`` unacked deliveries per consumer; a job
given back (``reject(requeue=True)`` or its consumer closed without acking, which is what a
crashed worker's closed channel does) is redelivered first with its delivery count increased;
after ``max_deliveries`` deliveries, or on ``reject(requeue=False)``, it goes to the dead
letters. A job with ``ttl_s`` not delivered within that time is dropped (not dead-lettered).
Nothing survives the process: that is what the broker is for.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from relayflow.cluster.ports import Job
from relayflow.errors import OperationalError


@dataclass
class _Entry:
    job: Job
    shard: int
    deadline: float | None
    deliveries: int = 0


class _Consumer:
    """One ``consume`` call's state: its unacked deliveries and the wake-up for a free slot."""

    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch
        self.unacked: set[MemoryDelivery] = set()
        self.closed = False
        self.slot_freed = asyncio.Event()


class MemoryDelivery:
    def __init__(self, queue: MemoryJobQueue, consumer: _Consumer, entry: _Entry) -> None:
        self._queue = queue
        self._consumer = consumer
        self._entry = entry

    @property
    def job(self) -> Job:
        return self._entry.job

    @property
    def shard(self) -> int:
        return self._entry.shard

    @property
    def deliveries(self) -> int:
        return self._entry.deliveries

    def _settle(self) -> None:
        if self not in self._consumer.unacked:
            raise OperationalError(
                "this delivery was already settled, or given back when its consumer closed"
            )
        self._consumer.unacked.discard(self)
        self._consumer.slot_freed.set()

    async def ack(self) -> None:
        self._settle()

    async def reject(self, *, requeue: bool) -> None:
        self._settle()
        if requeue:
            self._queue._give_back(self._entry)
        else:
            self._queue._dead.append(self._entry.job)


class MemoryJobQueue:
    """A JobQueue in this process. ``clock`` (monotonic seconds) is injectable for TTL tests."""

    def __init__(
        self,
        *,
        shards: int = 1,
        max_deliveries: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, not {max_deliveries}")
        self.shards = shards
        self.max_deliveries = max_deliveries
        self._clock = clock
        # per shard: [high, normal]
        self._ready: list[tuple[deque[_Entry], deque[_Entry]]] = [(deque(), deque()) for _ in range(shards)]
        self._dead: list[Job] = []
        # one event per waiting consumer, set when a job becomes ready
        self._waiters: set[asyncio.Event] = set()
        self._closed = False

    def _check_shard(self, shard: int) -> None:
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} is out of range: this queue has shards 0..{self.shards - 1}")

    def _check_open(self) -> None:
        if self._closed:
            raise OperationalError("the job queue is closed")

    async def publish(self, job: Job, *, shard: int) -> None:
        self._check_open()
        self._check_shard(shard)
        deadline = None if job.ttl_s is None else self._clock() + job.ttl_s
        high, normal = self._ready[shard]
        (high if job.priority > 0 else normal).append(_Entry(job, shard, deadline))
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def _give_back(self, entry: _Entry) -> None:
        """A delivery returned unacked: redelivered first, or dead-lettered at the limit."""
        if entry.deliveries >= self.max_deliveries:
            self._dead.append(entry.job)
            return
        high, normal = self._ready[entry.shard]
        (high if entry.job.priority > 0 else normal).appendleft(entry)
        self._wake()

    def _drop_expired(self, ready: deque[_Entry]) -> None:
        now = self._clock()
        if any(entry.deadline is not None and entry.deadline <= now for entry in ready):
            kept = [entry for entry in ready if entry.deadline is None or entry.deadline > now]
            ready.clear()
            ready.extend(kept)

    def _take(self, shards: Sequence[int]) -> _Entry | None:
        for level in (0, 1):  # every shard's high queue before any normal one
            for shard in shards:
                ready = self._ready[shard][level]
                now = self._clock()
                while ready:  # like RabbitMQ: a job expires when it reaches the head
                    entry = ready.popleft()
                    if entry.deadline is None or entry.deadline > now:
                        return entry
        return None

    async def consume(self, shards: Sequence[int], *, prefetch: int) -> AsyncIterator[MemoryDelivery]:
        self._check_open()
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        wanted = list(dict.fromkeys(shards))
        for shard in wanted:
            self._check_shard(shard)
        consumer = _Consumer(prefetch)
        arrived = asyncio.Event()
        self._waiters.add(arrived)
        try:
            while True:
                while len(consumer.unacked) >= consumer.prefetch:
                    consumer.slot_freed.clear()
                    await consumer.slot_freed.wait()
                entry = self._take(wanted)
                while entry is None:
                    self._check_open()
                    arrived.clear()
                    # wake at least every 50 ms so TTLs are honoured without a publish
                    try:
                        await asyncio.wait_for(arrived.wait(), timeout=0.05)
                    except TimeoutError:
                        pass
                    entry = self._take(wanted)
                entry.deliveries += 1
                delivery = MemoryDelivery(self, consumer, entry)
                consumer.unacked.add(delivery)
                yield delivery
        finally:
            # like a closed channel: everything unacked goes back to the queue
            consumer.closed = True
            self._waiters.discard(arrived)
            returned = list(consumer.unacked)
            consumer.unacked.clear()
            for delivery in returned:
                self._give_back(delivery._entry)

    async def depth(self, shard: int) -> int:
        self._check_shard(shard)
        total = 0
        for ready in self._ready[shard]:
            self._drop_expired(ready)
            total += len(ready)
        return total

    async def dead_letters(self, *, limit: int = 100) -> list[Job]:
        return list(self._dead[:limit])

    async def close(self) -> None:
        self._closed = True
        self._wake()
