"""The background writer of node runs.

Bound: a node run reported finished is written within ``max_delay_ms`` (default 50 ms) or as soon
as ``max_rows`` (default 200) are waiting, whichever comes first; a crash loses at most that
window of per-node history, never the execution row (written before the run is accepted) nor a
finished execution's runs (``execution_finished`` writes them itself). When ``max_pending``
(default 5,000) rows wait, the engine's next report waits for a flush: memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relayflow.store.sql.db import Database
from relayflow.store.sql.models import node_runs

log = logging.getLogger(__name__)


class NodeRunWriter:
    def __init__(
        self, db: Database, *, max_rows: int = 200, max_delay_ms: float = 50, max_pending: int = 5000
    ) -> None:
        self._db = db
        self.max_rows = max_rows
        self.max_delay_s = max_delay_ms / 1000
        self.max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._has_rows = asyncio.Event()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def add(self, rows: list[dict[str, Any]]) -> None:
        self._pending.extend(rows)
        self._has_rows.set()
        if len(self._pending) >= self.max_rows:
            self._full.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="relayflow-node-run-writer")
        if len(self._pending) >= self.max_pending:
            await self.flush()

    async def _run(self) -> None:
        while True:
            await self._has_rows.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.max_delay_s)
            try:
                await self.flush()
            except Exception:  # keep the writer alive; the rows are logged and dropped in _write
                log.exception("node run writer failed")

    @contextlib.asynccontextmanager
    async def holding(self, execution_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Waits for an in-flight batch, then hands out (and removes) one execution's pending rows."""
        async with self._lock:
            mine = [r for r in self._pending if r["execution_id"] == execution_id]
            if mine:
                self._pending = [r for r in self._pending if r["execution_id"] != execution_id]
            yield mine

    async def flush(self) -> None:
        async with self._lock:
            rows, self._pending = self._pending, []
            self._has_rows.clear()
            self._full.clear()
            if rows:
                await self._write(rows)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            async with self._db.write() as conn:
                await insert_node_runs(self._db, conn, rows)
        except Exception:
            # one bad execution (deleted meanwhile, unstorable data) must not sink the others
            await self._write_each_execution(rows)

    async def _write_each_execution(self, rows: list[dict[str, Any]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(row["execution_id"], []).append(row)
        for execution_id, group in groups.items():
            try:
                async with self._db.write() as conn:
                    await insert_node_runs(self._db, conn, group)
            except Exception:
                log.exception("dropped %d node runs of execution %s", len(group), execution_id)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def insert_node_runs(db: Database, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Idempotent: a run already stored (same execution and seq) is kept."""
    if rows:
        await conn.execute(db.insert_ignoring(node_runs, ["execution_id", "seq"]), rows)
