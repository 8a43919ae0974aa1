"""The outbox relay: moves committed outbox rows to the job queue.

Each round reads the pending rows (oldest first), publishes each shard's rows in order (the
shards concurrently), waiting for the broker's confirm of each, then marks the confirmed rows
sent. When a publish fails (broker down) the rest of that shard's rows wait for the next round,
so a shard's jobs are published in the order they were committed; failed rounds back off
exponentially up to ``max_backoff_s``. A row is never dropped: it stays pending until a confirm;
a crash between confirm and ``mark_sent`` publishes it again (consumers are idempotent by
execution id).

``wake()`` starts the next round at once (a process that just enqueued need not wait for the
interval); ``lag()`` is the outbox's (unsent rows, age of the oldest) for the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from relayflow.cluster.ports import JobQueue, Outbox, OutboxRow

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        queue: JobQueue,
        interval_s: float = 0.5,
        *,
        batch: int = 500,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.queue = queue
        self.interval_s = interval_s
        self.batch = batch
        self.max_backoff_s = max_backoff_s
        # counters for the metrics
        self.published = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> tuple[int, bool]:
        """One round: (rows published and marked sent, whether a publish failed)."""
        rows = await self.outbox.pending(limit=self.batch)
        by_shard: dict[int, list[OutboxRow]] = {}
        for row in rows:
            by_shard.setdefault(row.shard, []).append(row)
        results = await asyncio.gather(*(self._publish(shard_rows) for shard_rows in by_shard.values()))
        sent = [id_ for ids, _failed in results for id_ in ids]
        if sent:
            await self.outbox.mark_sent(sent)
            self.published += len(sent)
        return len(sent), any(failed for _ids, failed in results)

    async def _publish(self, rows: Sequence[OutboxRow]) -> tuple[list[int], bool]:
        sent: list[int] = []
        for row in rows:
            try:
                await self.queue.publish(row.job, shard=row.shard)
            except Exception as exc:  # the broker's own errors included: the row waits, never lost
                self.failures += 1
                log.warning("outbox relay: publishing to shard %d failed: %s", row.shard, exc)
                return sent, True
            sent.append(row.id)
        return sent, False

    async def run(self) -> None:
        """Rounds until cancelled."""
        backoff = 0.0
        while True:
            try:
                count, failed = await self.run_once()
            except Exception:  # the database: same treatment as the broker
                log.exception("outbox relay: the round failed")
                self.failures += 1
                count, failed = 0, True
            if failed:
                backoff = min(self.max_backoff_s, max(self.interval_s, backoff * 2))
                await self._pause(backoff)
                continue
            backoff = 0.0
            if count < self.batch:  # a full batch: more may be waiting, go on at once
                await self._pause(self.interval_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="relayflow-outbox-relay")

    async def close(self) -> None:
        """Stop the loop (rows not yet marked sent stay pending)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def lag(self) -> tuple[int, float]:
        return await self.outbox.lag()
