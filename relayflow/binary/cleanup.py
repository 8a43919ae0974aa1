"""Binary data goes when its execution goes.

- An execution whose record is not kept (the workflow's save settings) or is deleted through the
  API: its binary data is deleted ``grace_s`` later (a webhook answer may still be streaming it).
- Records deleted by retention, and anything a crash left behind: ``sweep`` (each prune pass)
  deletes the folders, older than ``orphan_age_s``, of executions that no longer exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relayflow.engine.ports import BinaryStore, RunStore

log = logging.getLogger("relayflow.binary")


class BinaryJanitor:
    def __init__(
        self, store: BinaryStore, executions: RunStore, *, grace_s: float = 30.0, orphan_age_s: float = 3600.0
    ) -> None:
        self.store = store
        self.executions = executions
        self.grace_s = grace_s
        self.orphan_age_s = orphan_age_s
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.deleted = 0

    def discarded(self, execution_id: str) -> None:
        """The execution's record is gone: delete its binary data after the grace period."""
        if execution_id in self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending[execution_id] = loop.call_later(self.grace_s, self._start, execution_id)

    def _start(self, execution_id: str) -> None:
        self._pending.pop(execution_id, None)
        task = asyncio.get_running_loop().create_task(self._delete(execution_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delete(self, execution_id: str) -> None:
        try:
            await self.store.delete_execution(execution_id)
            self.deleted += 1
        except Exception:  # logged; the next sweep retries
            log.warning("deleting the binary data of execution %s failed", execution_id, exc_info=True)

    async def sweep(self, *, limit: int = 1000) -> int:
        """Delete the binary data of executions that no longer exist; how many were deleted."""
        folders = getattr(self.store, "execution_folders", None)
        if folders is None:
            return 0
        cutoff = time.time() - self.orphan_age_s
        swept = 0
        for execution_id, mtime in folders(limit=limit):
            if mtime > cutoff or execution_id in self._pending:
                continue
            if await self.executions.get(execution_id) is None:
                await self._delete(execution_id)
                swept += 1
        if swept:
            log.info("deleted the binary data of %d executions that no longer exist", swept)
        return swept

    async def close(self) -> None:
        """Delete what is pending now (the process ends), and wait for deletions in flight."""
        pending, self._pending = self._pending, {}
        for execution_id, handle in pending.items():
            handle.cancel()
            await self._delete(execution_id)
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
