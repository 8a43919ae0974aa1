"""The background writer of node runs.

Bound: a node run reported finished is written within ``max_delay_ms`` (default 50 ms) or as soon
as ``max_rows`` (default 200) are waiting, whichever comes first, plus the time its batch waits
for the database's next commit (group-committed on SQLite, see db.py); a crash loses at most that
window of per-node history, never the execution row (written before the run is accepted) nor a
finished execution's runs (``execution_finished`` writes them itself). When ``max_pending``
(default 5,000) rows wait, the engine's next report waits for a flush: memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from relayflow.store.sql.db import Database
from relayflow.store.sql.models import node_runs

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Batch:
    """Rows handed to the database, not yet committed."""

    execution_ids: set[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)


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
        self._in_flight: list[_Batch] = []
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
        """Hands out (and removes) one execution's pending rows, once the batches already sent
        with its rows have committed; where writes commit in call order (``db.ordered_writes``)
        a write asked for inside this block commits after them anyway, so nothing is awaited."""
        mine = [r for r in self._pending if r["execution_id"] == execution_id]
        if mine:
            self._pending = [r for r in self._pending if r["execution_id"] != execution_id]
        if not self._db.ordered_writes:
            for batch in [b for b in self._in_flight if execution_id in b.execution_ids]:
                await batch.done.wait()
        yield mine

    async def flush(self) -> None:
        """Returns when every row handed to the writer so far is written (or logged and dropped)."""
        rows, self._pending = self._pending, []
        self._has_rows.clear()
        self._full.clear()
        if rows:
            await self._write(rows)
        for batch in list(self._in_flight):
            await batch.done.wait()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        batch = _Batch({r["execution_id"] for r in rows})
        self._in_flight.append(batch)
        try:
            try:
                await self._db.run_write(partial(write_node_runs, self._db, rows))
            except Exception:
                # one bad execution (deleted meanwhile, unstorable data) must not sink the others
                await self._write_each_execution(rows)
        finally:
            self._in_flight.remove(batch)
            batch.done.set()

    async def _write_each_execution(self, rows: list[dict[str, Any]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(row["execution_id"], []).append(row)
        for execution_id, group in groups.items():
            try:
                await self._db.run_write(partial(write_node_runs, self._db, group))
            except Exception:
                log.exception("dropped %d node runs of execution %s", len(group), execution_id)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def write_node_runs(db: Database, rows: list[dict[str, Any]], conn: Connection) -> None:
    """Idempotent: a run already stored (same execution and seq) is kept (for ``db.run_write``)."""
    if rows:
        conn.execute(db.insert_ignoring(node_runs, ["execution_id", "seq"]), rows)


async def insert_node_runs(db: Database, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """``write_node_runs`` inside ``db.write()``."""
    if rows:
        await conn.execute(db.insert_ignoring(node_runs, ["execution_id", "seq"]), rows)
