"""Executions on SQL. The execution row is written before ``execution_started`` returns (that is
when a trigger may be acknowledged); node runs go through the batching ``NodeRunWriter``, and
``execution_finished`` writes the rest of them with the final row in one transaction.

``get`` of a running execution may miss its newest node runs for up to the writer's bound.
``result`` (the terminal nodes' outputs) is not stored: it is in the node runs' outputs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun, NodeRunStatus, Source
from relayflow.store.common import (
    accepts_call,
    check_limit,
    decode_cursor,
    encode_cursor,
    parked_of,
    utc,
    waiting_from,
)
from relayflow.store.ports import ExecutionQuery, Page, ParkedExecution
from relayflow.store.sql.db import Database
from relayflow.store.sql.models import executions, node_runs, waits
from relayflow.store.sql.writer import NodeRunWriter, write_node_runs

_TERMINAL = [s.value for s in ExecutionStatus if s.terminal]
_MUTABLE = ("workflow_id", "workflow_name", "mode", "status", "finished_at", "error", "last_node")
# the columns to SET come with the parameters (``_MUTABLE``)
_FINISH = update(executions).where(executions.c.id == bindparam("execution_id"))


class SqlExecutionStore:
    def __init__(self, db: Database, *, max_rows: int = 200, max_delay_ms: float = 50) -> None:
        self._db = db.acquire()
        self._writer = NodeRunWriter(db, max_rows=max_rows, max_delay_ms=max_delay_ms)
        # per running execution: how many of its node runs were handed to the writer
        self._next_seq: dict[str, int] = {}

    async def execution_started(self, record: ExecutionRecord) -> None:
        """Upsert: a resumed or retried execution starts again under its id. Group-committed with
        the other writes asked for meanwhile (db.py); returns once committed."""
        stored = await self._db.run_write(
            partial(_start, self._db, _execution_row(record), bool(record.node_runs))
        )
        self._next_seq[record.id] = min(stored, len(record.node_runs))

    async def node_run_finished(self, record: ExecutionRecord, run: NodeRun) -> None:
        rows = self._unsent_runs(record)
        if rows:
            await self._writer.add(rows)

    def _unsent_runs(self, record: ExecutionRecord) -> list[dict[str, Any]]:
        # runs are only ever appended; a cancelled run is appended without a report of its own
        start = self._next_seq.get(record.id, 0)
        self._next_seq[record.id] = len(record.node_runs)
        return [
            _node_run_row(record.id, seq, record.node_runs[seq])
            for seq in range(start, len(record.node_runs))
        ]

    async def execution_finished(self, record: ExecutionRecord) -> None:
        rows = self._unsent_runs(record)
        self._next_seq.pop(record.id, None)
        values = {k: v for k, v in _execution_row(record).items() if k in _MUTABLE}
        wait = (
            _wait_row(parked_of(record, datetime.now(UTC)))
            if record.status == ExecutionStatus.WAITING
            else None
        )
        async with self._writer.holding(record.id) as pending:
            await self._db.run_write(partial(_finish, self._db, record.id, pending + rows, values, wait))

    async def get(self, execution_id: str) -> ExecutionRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(executions).where(executions.c.id == execution_id))).first()
            if row is None:
                return None
            stmt = select(node_runs).where(node_runs.c.execution_id == execution_id).order_by(node_runs.c.seq)
            runs = [_node_run(r) for r in (await conn.execute(stmt)).all()]
            wait = None
            if row.status == ExecutionStatus.WAITING.value:
                found = (
                    await conn.execute(select(waits).where(waits.c.execution_id == execution_id))
                ).first()
                wait = _parked(found) if found is not None else None
        record = _record(row)
        record.node_runs = runs
        waiting_from(record, wait)
        return record

    async def parked(self, *, after: str | None = None, limit: int = 1000) -> list[ParkedExecution]:
        stmt = select(waits).order_by(waits.c.execution_id).limit(check_limit(limit))
        if after is not None:
            stmt = stmt.where(waits.c.execution_id > after)
        async with self._db.read() as conn:
            return [_parked(r) for r in (await conn.execute(stmt)).all()]

    async def parked_one(self, execution_id: str) -> ParkedExecution | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(waits).where(waits.c.execution_id == execution_id))).first()
        return _parked(row) if row is not None else None

    async def claim_parked(
        self, execution_id: str, *, due_by: datetime | None = None
    ) -> ParkedExecution | None:
        return await self._db.run_write(partial(_claim, execution_id, due_by))

    async def take_parked(
        self, execution_id: str, *, due_by: datetime | None = None, method: str | None = None
    ) -> tuple[ParkedExecution, ExecutionRecord] | None:
        return await self._db.run_write(partial(_take, execution_id, due_by, method))

    async def find(self, query: ExecutionQuery) -> Page[ExecutionRecord]:
        limit = check_limit(query.limit)
        col = executions.c
        stmt = select(executions).order_by(col.started_at.desc(), col.id.desc())
        if query.workflow_ids is not None and not query.workflow_ids:
            return Page([])
        if query.workflow_id is not None:
            stmt = stmt.where(col.workflow_id == query.workflow_id)
        if query.workflow_ids is not None:
            # one expanding parameter (a placeholder per id): the workflows a caller may see
            stmt = stmt.where(col.workflow_id.in_(sorted(query.workflow_ids)))
        if query.status is not None:
            stmt = stmt.where(col.status == ExecutionStatus(query.status).value)
        if query.started_after is not None:
            stmt = stmt.where(col.started_at >= utc(query.started_after))
        if query.started_before is not None:
            stmt = stmt.where(col.started_at < utc(query.started_before))
        if query.cursor is not None:
            at, last_id = decode_cursor(query.cursor)
            stmt = stmt.where(or_(col.started_at < at, and_(col.started_at == at, col.id < last_id)))
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.limit(limit + 1))).all()
        items = [_record(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].started_at, items[-1].id) if more else None)

    async def delete(self, execution_id: str) -> bool:
        self._next_seq.pop(execution_id, None)
        async with self._writer.holding(execution_id), self._db.write() as conn:
            result = await conn.execute(delete(executions).where(executions.c.id == execution_id))
        return bool(result.rowcount)

    async def prune(self, *, before: datetime | None, keep_newest: int | None, limit: int) -> int:
        col = executions.c
        async with self._db.write() as conn:
            stmt = select(col.id).where(col.status.in_(_TERMINAL))
            doomed = []
            if before is not None:
                doomed.append(col.started_at < utc(before))
            if keep_newest is not None:
                doomed.append(await _beyond_newest(conn, keep_newest))
            if not doomed:
                return 0
            stmt = stmt.where(or_(*doomed)).order_by(col.started_at, col.id).limit(limit)
            ids = list((await conn.scalars(stmt)).all())
            if ids:
                await conn.execute(delete(executions).where(col.id.in_(ids)))
        for id_ in ids:
            self._next_seq.pop(id_, None)
        return len(ids)

    async def flush(self) -> None:
        await self._writer.flush()

    async def close(self) -> None:
        await self._writer.close()
        await self._db.release()


def _start(db: Database, row: dict[str, Any], resumed: bool, conn: Connection) -> int:
    """Upsert the execution row; how many node runs it has stored (none unless ``resumed``)."""
    conn.execute(db.upsert(executions, ["id"], _MUTABLE), row)
    if not resumed:
        return 0
    stmt = select(func.count()).select_from(node_runs).where(node_runs.c.execution_id == row["id"])
    return int(conn.scalar(stmt) or 0)


def _finish(
    db: Database,
    execution_id: str,
    runs: list[dict[str, Any]],
    values: dict[str, Any],
    wait: dict[str, Any] | None,
    conn: Connection,
) -> None:
    write_node_runs(db, runs, conn)
    conn.execute(_FINISH, {"execution_id": execution_id, **values})
    if wait is not None:  # parked: the wait commits with the status
        conn.execute(db.upsert(waits, ["execution_id"], [c for c in wait if c != "execution_id"]), wait)


def _claim(
    execution_id: str, due_by: datetime | None, conn: Connection, method: str | None = None
) -> ParkedExecution | None:
    """Delete the wait and return it; the DELETE's row count decides between racing claimers."""
    row = conn.execute(select(waits).where(waits.c.execution_id == execution_id)).first()
    if row is None or not accepts_call(_parked(row), method):
        return None
    stmt = delete(waits).where(waits.c.execution_id == execution_id)
    if due_by is not None:
        if row.due_at is None or row.due_at > utc(due_by):
            return None
        stmt = stmt.where(waits.c.due_at <= utc(due_by))
    if conn.execute(stmt).rowcount != 1:
        return None
    return _parked(row)


def _take(
    execution_id: str, due_by: datetime | None, method: str | None, conn: Connection
) -> tuple[ParkedExecution, ExecutionRecord] | None:
    """Claim the wait and read the record in the writer's transaction (no extra round trips)."""
    wait = _claim(execution_id, due_by, conn, method)
    if wait is None:
        return None
    row = conn.execute(select(executions).where(executions.c.id == execution_id)).first()
    if row is None:
        return None
    stmt = select(node_runs).where(node_runs.c.execution_id == execution_id).order_by(node_runs.c.seq)
    record = _record(row)
    record.node_runs = [_node_run(r) for r in conn.execute(stmt).all()]
    return wait, record


def _wait_row(wait: ParkedExecution) -> dict[str, Any]:
    return {
        "execution_id": wait.execution_id,
        "workflow_id": wait.workflow_id,
        "version_id": wait.version_id,
        "due_at": wait.due_at,
        "webhook": wait.webhook,
        "nodes": wait.nodes,
        "created_at": wait.created_at,
    }


def _parked(r: Row[Any]) -> ParkedExecution:
    return ParkedExecution(
        execution_id=r.execution_id,
        workflow_id=r.workflow_id,
        version_id=r.version_id,
        due_at=r.due_at,
        webhook=bool(r.webhook),
        nodes=list(r.nodes),
        created_at=r.created_at,
    )


async def _beyond_newest(conn: AsyncConnection, keep: int) -> ColumnElement[bool]:
    """Rows older (by started_at, id) than the ``keep``-th newest execution."""
    col = executions.c
    if keep <= 0:
        return true()
    stmt = select(col.started_at, col.id).order_by(col.started_at.desc(), col.id.desc())
    last = (await conn.execute(stmt.offset(keep - 1).limit(1))).first()
    if last is None:
        return false()
    at, id_ = last
    return or_(col.started_at < at, and_(col.started_at == at, col.id < id_))


def _execution_row(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "workflow_id": record.workflow_id,
        "workflow_name": record.workflow_name,
        "mode": record.mode,
        "status": ExecutionStatus(record.status).value,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "error": record.error,
        "last_node": record.last_node,
        "retry_of": record.retry_of,
    }


def _record(r: Row[Any]) -> ExecutionRecord:
    return ExecutionRecord(
        id=r.id,
        workflow_id=r.workflow_id,
        workflow_name=r.workflow_name,
        mode=r.mode,
        status=ExecutionStatus(r.status),
        started_at=r.started_at,
        finished_at=r.finished_at,
        error=r.error,
        last_node=r.last_node,
        retry_of=r.retry_of,
    )


def _node_run_row(execution_id: str, seq: int, run: NodeRun) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "seq": seq,
        "node": run.node,
        "run_index": run.run_index,
        "status": NodeRunStatus(run.status).value,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "items_in": run.items_in,
        "items_out": run.items_out,
        # shared, not copied: serialised once when the batch is written
        "output": run.output,
        "error": run.error,
        "tries": run.tries,
        "source": [{"node": s.node, "output": s.output, "run": s.run} if s else None for s in run.source],
        "logs": run.logs,
    }


def _node_run(r: Row[Any]) -> NodeRun:
    return NodeRun(
        node=r.node,
        run_index=r.run_index,
        status=NodeRunStatus(r.status),
        started_at=r.started_at,
        finished_at=r.finished_at,
        items_in=r.items_in,
        items_out=r.items_out,
        output=r.output,
        error=r.error,
        tries=r.tries,
        source=[Source(**s) if s else None for s in r.source],
        logs=r.logs,
    )
