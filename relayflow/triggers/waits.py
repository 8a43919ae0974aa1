"""The timers of parked executions: one heap and one task, however many executions wait.

A parked execution costs an entry here (its due time and id) and its row in the store; nothing
else stays in memory. On start, ``load`` reads every stored wait (so waits survive a restart);
``add`` takes the executions that park while the server runs. When a timer is due, ``resume``
(given by the server) claims the wait in the store, due-time checked, and continues the
execution; a stale entry (the execution was resumed by a call, or parked again later) claims
nothing and is dropped. Timers are fired in due order, at most ``max_concurrent`` resumes at a
time, so a burst of due waits never floods the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from relayflow.engine.ports import Clock
from relayflow.store.ports import ExecutionStore

log = logging.getLogger("relayflow.waits")

Resume = Callable[[str, datetime], Awaitable[None]]


class WaitTimers:
    def __init__(self, resume: Resume, clock: Clock, *, max_concurrent: int = 64) -> None:
        self._resume = resume
        self._clock = clock
        self._heap: list[tuple[float, str]] = []
        # the due time each execution is expected at: heap entries that disagree are stale
        self._due: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_concurrent)
        self._running: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._due)

    def add(self, execution_id: str, due_at: datetime) -> None:
        at = due_at.timestamp()
        self._due[execution_id] = at
        heapq.heappush(self._heap, (at, execution_id))
        if self._heap[0][1] == execution_id:
            self._wake.set()

    def discard(self, execution_id: str) -> None:
        self._due.pop(execution_id, None)

    async def load(self, store: ExecutionStore, *, page: int = 1000) -> int:
        """Add every stored wait that has a timer; returns how many."""
        after: str | None = None
        count = 0
        while True:
            waits = await store.parked(after=after, limit=page)
            for wait in waits:
                if wait.due_at is not None:
                    self.add(wait.execution_id, wait.due_at)
                    count += 1
            if len(waits) < page:
                return count
            after = waits[-1].execution_id

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="relayflow-wait-timers")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Fire no more timers; give resumes under way ``grace_s`` to finish (a resume is never
        cancelled between claiming its wait and starting its execution)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            await asyncio.wait(set(self._running), timeout=max(grace_s, 0.01))

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock.now().timestamp()
            while self._heap and self._heap[0][0] <= now:
                at, execution_id = heapq.heappop(self._heap)
                if self._due.get(execution_id) != at:
                    continue  # stale
                del self._due[execution_id]
                await self._slots.acquire()
                task = asyncio.create_task(self._fire(execution_id, at))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            delay = self._heap[0][0] - self._clock.now().timestamp() if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _fire(self, execution_id: str, at: float) -> None:
        try:
            await self._resume(execution_id, datetime.fromtimestamp(at, self._clock.now().tzinfo))
        except Exception:
            log.exception("resuming the waiting execution %s failed", execution_id)
        finally:
            self._slots.release()
