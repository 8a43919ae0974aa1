"""The transactional outbox on SQL (``Outbox`` of relayflow/cluster/ports.py).

``enqueue(job, shard=..., record=...)`` writes the execution row (an upsert, as
``SqlExecutionStore.execution_started`` does) and the outbox row in ONE transaction: both commit
or neither does. The relay (relayflow/cluster/relay.py) reads ``pending`` rows in id order,
publishes them with confirms, then ``mark_sent``; a row may therefore be published twice (a crash
between the two), never lost. Sent rows stay until ``purge_sent``; the partial index
``ix_outbox_unsent`` keeps the relay's scan to the unsent ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from relayflow.cluster.ports import Job, OutboxRow
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import InputInvalid
from relayflow.store.common import check_limit, utc
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.executions import _execution_row, _start
from relayflow.store.sql.migrate import upgrade_engine
from relayflow.store.sql.models import outbox

_C = outbox.c
# ids per UPDATE in mark_sent: well under both databases' parameter limits
_CHUNK = 1000


def job_to_json(job: Job) -> dict[str, Any]:
    return {
        "execution_id": job.execution_id,
        "workflow_id": job.workflow_id,
        "project_id": job.project_id,
        "priority": job.priority,
        "ttl_s": job.ttl_s,
        "headers": dict(job.headers),
    }


def job_from_json(data: Mapping[str, Any]) -> Job:
    return Job(
        execution_id=data["execution_id"],
        workflow_id=data.get("workflow_id"),
        project_id=data.get("project_id"),
        priority=int(data.get("priority") or 0),
        ttl_s=data.get("ttl_s"),
        headers=dict(data.get("headers") or {}),
    )


def _outbox_row(job: Job, shard: int, now: datetime) -> dict[str, Any]:
    return {
        "execution_id": job.execution_id,
        "job": job_to_json(job),
        "shard": shard,
        "created_at": now,
    }


class SqlOutbox:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    async def enqueue(self, job: Job, *, shard: int, record: ExecutionRecord | None = None) -> int:
        """Add the job's outbox row (its id), with ``record``'s execution row in the same
        transaction when given (status as the record says: ``queued`` for a new execution)."""
        if shard < 0:
            raise InputInvalid(f"a shard is a number from 0, not {shard}")
        if record is not None and record.id != job.execution_id:
            raise InputInvalid(f"the job is for execution {job.execution_id!r}, not {record.id!r}")
        execution = _execution_row(record) if record is not None else None
        row = _outbox_row(job, shard, utc(self._clock.now()))
        return await self._db.run_write(partial(_enqueue, self._db, execution, row))

    async def pending(self, *, limit: int = 500) -> list[OutboxRow]:
        stmt = select(outbox).where(_C.sent_at.is_(None)).order_by(_C.id).limit(check_limit(limit))
        async with self._db.read() as conn:
            return [_row(r) for r in (await conn.execute(stmt)).all()]

    async def mark_sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        now = utc(self._clock.now())
        unique = sorted(set(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            await self._db.run_write(partial(_mark_sent, chunk, now))

    async def lag(self) -> tuple[int, float]:
        stmt = select(func.count(), func.min(_C.created_at)).where(_C.sent_at.is_(None))
        async with self._db.read() as conn:
            count, oldest = (await conn.execute(stmt)).one()
        if not count or oldest is None:
            return 0, 0.0
        # min() on SQLite loses the column type: it comes back as text
        at = utc(datetime.fromisoformat(oldest) if isinstance(oldest, str) else oldest)
        return int(count), max(0.0, (utc(self._clock.now()) - at).total_seconds())

    async def purge_sent(self, *, before: datetime) -> int:
        """Delete the rows sent before ``before``; how many."""
        stmt = delete(outbox).where(_C.sent_at.is_not(None), _C.sent_at < utc(before))
        return int(await self._db.run_write(lambda conn: conn.execute(stmt).rowcount))

    async def close(self) -> None:
        await self._db.release()


def _enqueue(db: Database, execution: dict[str, Any] | None, row: dict[str, Any], conn: Connection) -> int:
    if execution is not None:
        _start(db, execution, False, conn)
    return int(conn.execute(insert(outbox).returning(_C.id), row).scalar_one())


def _mark_sent(ids: list[int], now: datetime, conn: Connection) -> None:
    conn.execute(update(outbox).where(_C.id.in_(ids), _C.sent_at.is_(None)).values(sent_at=now))


def _row(r: Row[Any]) -> OutboxRow:
    return OutboxRow(id=int(r.id), job=job_from_json(r.job), shard=int(r.shard), created_at=r.created_at)


async def open_outbox(url: str, *, clock: Clock | None = None) -> SqlOutbox:
    """The outbox on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlOutbox(Database(engine), clock)
