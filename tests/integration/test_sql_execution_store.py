"""What only the SQL execution store does: batching node runs in the background, and durability
across a close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun, NodeRunStatus
from relayflow.store.config import open_stores
from relayflow.store.sql import Database, SqlExecutionStore, create_engine, upgrade

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def record(id_: str) -> ExecutionRecord:
    return ExecutionRecord(id_, "wf1", "Orders", "manual", ExecutionStatus.RUNNING, T0)


async def report(store: SqlExecutionStore, rec: ExecutionRecord, *nodes: str) -> None:
    for node in nodes:
        run = NodeRun(node, 0, NodeRunStatus.SUCCEEDED, T0, output=[[{"json": {"node": node}}]])
        rec.node_runs.append(run)
        await store.node_run_finished(rec, run)


async def wait_for_runs(
    store: SqlExecutionStore, execution_id: str, count: int, timeout_s: float = 5
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await store.get(execution_id)
        if got is not None and len(got.node_runs) >= count:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{count} node runs never written"
        await asyncio.sleep(0.01)


async def test_close_drains_pending_runs(sql_url: str) -> None:
    workflows, executions = await open_stores(sql_url)
    rec = record("ex-1")
    await executions.execution_started(rec)
    for node in ("Start", "Set"):
        run = NodeRun(node, 0, NodeRunStatus.SUCCEEDED, T0)
        rec.node_runs.append(run)
        await executions.node_run_finished(rec, run)
    await executions.close()
    await workflows.close()
    workflows, executions = await open_stores(sql_url)
    try:
        got = await executions.get("ex-1")
        assert got is not None and [r.node for r in got.node_runs] == ["Start", "Set"]
    finally:
        await executions.close()
        await workflows.close()


async def test_writer_flushes_after_its_delay(sql_url: str) -> None:
    await upgrade(sql_url)
    store = SqlExecutionStore(Database(create_engine(sql_url)), max_rows=1000, max_delay_ms=20)
    try:
        rec = record("ex-1")
        await store.execution_started(rec)
        await report(store, rec, "Start")
        await wait_for_runs(store, "ex-1", 1)
    finally:
        await store.close()


async def test_writer_flushes_a_full_batch_at_once(sql_url: str) -> None:
    await upgrade(sql_url)
    # the delay alone would outlast the test's deadline
    store = SqlExecutionStore(Database(create_engine(sql_url)), max_rows=3, max_delay_ms=60_000)
    try:
        rec = record("ex-1")
        await store.execution_started(rec)
        await report(store, rec, "A", "B", "C")
        await wait_for_runs(store, "ex-1", 3)
    finally:
        await store.close()


async def test_runs_of_a_deleted_execution_do_not_sink_the_batch(
    sql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process may delete an execution whose runs this writer still holds."""
    await upgrade(sql_url)
    db = Database(create_engine(sql_url))
    store, other = SqlExecutionStore(db), SqlExecutionStore(db)
    try:
        gone, kept = record("gone"), record("kept")
        for rec in (gone, kept):
            await store.execution_started(rec)
            await report(store, rec, "Start")
        assert await other.delete("gone") is True
        await store.flush()
        assert await store.get("gone") is None
        got = await store.get("kept")
        assert got is not None and len(got.node_runs) == 1
        assert "dropped 1 node runs of execution gone" in caplog.text
    finally:
        await other.close()
        await store.close()


async def test_text_postgresql_cannot_hold_is_stored_alike_everywhere(sql_url: str) -> None:
    workflows, executions = await open_stores(sql_url)
    try:
        created = await workflows.create({"name": "nul", "note": "a\x00b \\u0000"})
        fetched = await workflows.get(created.id)
        assert fetched is not None and fetched.data["note"] == "a\ufffdb \\u0000"
        rec = record("ex-1")
        await executions.execution_started(rec)
        run = NodeRun(
            "Bytes", 0, NodeRunStatus.SUCCEEDED, T0, output=[[{"json": {"raw": b"\x00ok", "when": T0}}]]
        )
        rec.node_runs.append(run)
        rec.status = ExecutionStatus.SUCCEEDED
        await executions.execution_finished(rec)
        got = await executions.get("ex-1")
        assert got is not None and got.node_runs[0].output == [
            [{"json": {"raw": "\ufffdok", "when": T0.isoformat()}}]
        ]
    finally:
        await workflows.close()
        await executions.close()
