"""The server's background retention: ``retention.prune`` every ``interval_s``, off the hot path.

Invariants: the first pass runs at ``start`` (in the background: ``start`` returns at once), then
one every ``interval_s`` after the previous pass ended, so passes never overlap. Each batch is
its own short transaction and other writers go between batches. A failing pass (database down,
lock timeout) is logged and tried again at the next tick; it never ends the loop. ``stop`` lets
the batch in flight finish, then returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from relayflow.binary.cleanup import BinaryJanitor
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import InputInvalid
from relayflow.store.idempotency import DEFAULT_TTL_HOURS, IdempotencyStore
from relayflow.store.ports import ExecutionStore
from relayflow.store.retention import RetentionSettings, prune

log = logging.getLogger("relayflow.pruner")


class Pruner:
    def __init__(
        self,
        store: ExecutionStore,
        settings: RetentionSettings,
        *,
        clock: Clock | None = None,
        janitor: BinaryJanitor | None = None,
        idempotency: IdempotencyStore | None = None,
        idempotency_ttl: timedelta = timedelta(hours=DEFAULT_TTL_HOURS),
    ) -> None:
        if settings.interval_s is not None and not settings.interval_s > 0:
            raise InputInvalid(f"the prune interval must be > 0 seconds, not {settings.interval_s}")
        if settings.batch_size < 1:
            raise InputInvalid(f"the prune batch size must be at least 1, not {settings.batch_size}")
        self.store = store
        self.settings = settings
        # after each pass: the binary data of executions that no longer exist goes too
        self.janitor = janitor
        # and so do the webhooks' idempotency keys older than ``idempotency_ttl``
        self.idempotency = idempotency
        self.idempotency_ttl = idempotency_ttl
        self._clock = clock or SystemClock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # deleted by the passes so far, and passes that failed (for tests and /metrics)
        self.deleted = 0
        self.passes = 0
        self.failures = 0

    @property
    def enabled(self) -> bool:
        s = self.settings
        return s.interval_s is not None and (s.max_age is not None or s.max_count is not None)

    async def start(self) -> None:
        """Start the background loop; does nothing when pruning is off or already running."""
        if not self.enabled or self._task is not None:
            return
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="relayflow-pruner")

    async def stop(self) -> None:
        """Finish the batch in flight, then end the loop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        await task

    async def run_once(self) -> int:
        """One pass; returns how many executions it deleted. Raises what the store raises."""
        s = self.settings
        deleted = await prune(
            self.store,
            max_age=s.max_age,
            max_count=s.max_count,
            batch_size=s.batch_size,
            now=self._clock.now(),
            stop=self._stop,
        )
        self.deleted += deleted
        self.passes += 1
        if self.janitor is not None:
            await self.janitor.sweep()
        if self.idempotency is not None:
            await self.idempotency.expire(self._clock.now() - self.idempotency_ttl)
        if deleted:
            log.info("pruned %d executions", deleted)
        else:
            log.debug("pruned no executions")
        return deleted

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                self.failures += 1
                log.exception("pruning executions failed; trying again in %g s", self.settings.interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.interval_s)
