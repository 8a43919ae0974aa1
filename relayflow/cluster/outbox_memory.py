"""The outbox in memory: the single-process ``Outbox`` (tests, embedded mode), with the SQL
store's rules (relayflow/store/sql/outbox.py). ``enqueue`` checks everything before it changes
anything and runs without an await, so the execution record and the row appear together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from relayflow.cluster.ports import Job, OutboxRow
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import InputInvalid
from relayflow.store.common import check_limit
from relayflow.store.memory import MemoryExecutionStore

# the SQL column is a 32-bit integer
_MAX_SHARD = 2**31 - 1


@dataclass
class _Entry:
    row: OutboxRow
    sent_at: datetime | None = None


class MemoryOutbox:
    def __init__(self, executions: MemoryExecutionStore | None = None, clock: Clock | None = None) -> None:
        self._executions = executions
        self._clock = clock or SystemClock()
        self._entries: dict[int, _Entry] = {}  # in id (insertion) order
        self._next_id = 1

    async def enqueue(self, job: Job, *, shard: int, record: ExecutionRecord | None = None) -> int:
        if not 0 <= shard <= _MAX_SHARD:
            raise InputInvalid(f"a shard is a number from 0 to {_MAX_SHARD}, not {shard}")
        if record is not None and record.id != job.execution_id:
            raise InputInvalid(f"the job is for execution {job.execution_id!r}, not {record.id!r}")
        if record is not None and self._executions is None:
            raise InputInvalid("this outbox has no execution store to write the record to")
        if record is not None and self._executions is not None:
            # everything that can fail was checked above, and the memory store's write never
            # suspends: nothing runs between it and the row's append
            await self._executions.execution_started(record)
        id_ = self._next_id
        self._next_id += 1
        self._entries[id_] = _Entry(OutboxRow(id_, job, shard, self._clock.now()))
        return id_

    async def pending(self, *, limit: int = 500) -> list[OutboxRow]:
        limit = check_limit(limit)
        rows = []
        for entry in self._entries.values():
            if entry.sent_at is None:
                rows.append(entry.row)
                if len(rows) == limit:
                    break
        return rows

    async def mark_sent(self, ids: Sequence[int]) -> None:
        now = self._clock.now()
        for id_ in ids:
            entry = self._entries.get(id_)
            if entry is not None and entry.sent_at is None:
                entry.sent_at = now

    async def lag(self) -> tuple[int, float]:
        unsent = [e.row.created_at for e in self._entries.values() if e.sent_at is None]
        if not unsent:
            return 0, 0.0
        return len(unsent), max(0.0, (self._clock.now() - min(unsent)).total_seconds())

    async def purge_sent(self, *, before: datetime) -> int:
        doomed = [i for i, e in self._entries.items() if e.sent_at is not None and e.sent_at < before]
        for id_ in doomed:
            del self._entries[id_]
        return len(doomed)

    async def close(self) -> None:
        pass
