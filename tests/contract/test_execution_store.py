"""The ExecutionStore contract (RunStore plus the API's queries), on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun, NodeRunStatus, Source
from relayflow.errors import InputInvalid
from relayflow.store.ports import ExecutionQuery, ExecutionStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def record(id_: str, *, at: datetime = T0, workflow_id: str | None = "wf1", **kw: Any) -> ExecutionRecord:
    fields: dict[str, Any] = {"workflow_name": "Orders", "mode": "manual", "status": ExecutionStatus.RUNNING}
    return ExecutionRecord(id=id_, workflow_id=workflow_id, started_at=at, **(fields | kw))


def run(node: str, seq: int, **kw: Any) -> NodeRun:
    start = T0 + timedelta(milliseconds=10 * seq)
    fields: dict[str, Any] = {
        "run_index": 0,
        "status": NodeRunStatus.SUCCEEDED,
        "started_at": start,
        "finished_at": start + timedelta(microseconds=1234),
        "items_in": [1],
        "items_out": [1],
        "output": [[{"json": {"n": seq, "text": "héllo ✓", "nested": {"x": [1, 2.5, None, True]}}}]],
    }
    return NodeRun(node=node, **(fields | kw))


async def report(store: ExecutionStore, rec: ExecutionRecord, *runs: NodeRun) -> None:
    for r in runs:
        rec.node_runs.append(r)
        await store.node_run_finished(rec, r)


def failed_run() -> NodeRun:
    return run(
        "Fetch",
        2,
        run_index=1,
        status=NodeRunStatus.FAILED,
        items_in=[2, 0],
        items_out=[0, 2],
        output=None,
        error={"code": "node_error", "message": "boom", "node": "Fetch", "itemIndex": 1},
        tries=3,
        source=[Source("Start", 0, 0), None],
        logs=["line 1", "line 2"],
    )


async def test_record_round_trip(executions: ExecutionStore) -> None:
    rec = record("ex-1")
    await executions.execution_started(rec)
    await report(executions, rec, run("Start", 0, source=[]), run("Set", 1, source=[Source("Start", 0, 0)]))
    await report(executions, rec, failed_run())
    rec.status, rec.finished_at, rec.last_node = ExecutionStatus.FAILED, T0 + timedelta(seconds=1), "Fetch"
    rec.error = {"code": "node_error", "message": "boom", "node": "Fetch"}
    await executions.execution_finished(rec)
    got = await executions.get("ex-1")
    assert got is not None
    assert got.to_dict() == rec.to_dict()
    assert got.node_runs[2].source == [Source("Start", 0, 0), None]
    assert got.node_runs[2].output is None and got.node_runs[2].tries == 3
    assert got.started_at.tzinfo is not None


async def test_unknown_execution(executions: ExecutionStore) -> None:
    assert await executions.get("nope") is None
    assert await executions.delete("nope") is False


async def test_started_execution_is_visible_at_once(executions: ExecutionStore) -> None:
    await executions.execution_started(record("ex-1", workflow_id=None, mode="webhook"))
    got = await executions.get("ex-1")
    assert got is not None
    assert (got.status, got.mode, got.workflow_id, got.node_runs) == (
        ExecutionStatus.RUNNING,
        "webhook",
        None,
        [],
    )
    page = await executions.find(ExecutionQuery(status=ExecutionStatus.RUNNING))
    assert [r.id for r in page.items] == ["ex-1"]


async def test_flush_writes_node_runs_of_a_running_execution(executions: ExecutionStore) -> None:
    rec = record("ex-1")
    await executions.execution_started(rec)
    await report(executions, rec, run("Start", 0), run("Set", 1))
    await executions.flush()
    got = await executions.get("ex-1")
    assert got is not None and [r.node for r in got.node_runs] == ["Start", "Set"]
    assert got.status is ExecutionStatus.RUNNING


async def test_unreported_runs_are_written_at_finish(executions: ExecutionStore) -> None:
    rec = record("ex-1")
    await executions.execution_started(rec)
    await report(executions, rec, run("Start", 0))
    # a cancelled run is appended to the record without a report of its own
    rec.node_runs.append(run("Slow", 1, status=NodeRunStatus.CANCELLED, output=None))
    rec.status, rec.finished_at = ExecutionStatus.CANCELLED, T0 + timedelta(seconds=2)
    await executions.execution_finished(rec)
    got = await executions.get("ex-1")
    assert got is not None and got.to_dict() == rec.to_dict()


async def test_started_again_keeps_earlier_runs(executions: ExecutionStore) -> None:
    rec = record("ex-1")
    await executions.execution_started(rec)
    await report(executions, rec, run("Start", 0))
    rec.status = ExecutionStatus.WAITING
    await executions.execution_finished(rec)
    resumed = await executions.get("ex-1")
    assert resumed is not None
    resumed.status = ExecutionStatus.RUNNING
    await executions.execution_started(resumed)
    await report(executions, resumed, run("After wait", 1))
    resumed.status, resumed.finished_at = ExecutionStatus.SUCCEEDED, T0 + timedelta(minutes=5)
    await executions.execution_finished(resumed)
    got = await executions.get("ex-1")
    assert got is not None and got.status is ExecutionStatus.SUCCEEDED
    assert [r.node for r in got.node_runs] == ["Start", "After wait"]


async def test_find_filters_and_pages_newest_first(executions: ExecutionStore) -> None:
    for i in range(7):
        rec = record(f"ex-{i}", at=T0 + timedelta(minutes=i), workflow_id="a" if i % 2 else "b")
        await executions.execution_started(rec)
        await report(executions, rec, run("Start", 0))
        rec.status = ExecutionStatus.FAILED if i == 3 else ExecutionStatus.SUCCEEDED
        await executions.execution_finished(rec)

    async def ids(**query: Any) -> list[str]:
        out, cursor, pages = [], None, 0
        while True:
            page = await executions.find(ExecutionQuery(cursor=cursor, **query))
            assert all(r.node_runs == [] for r in page.items)
            out += [r.id for r in page.items]
            cursor, pages = page.next_cursor, pages + 1
            if cursor is None:
                return out

    assert await ids(limit=3) == [f"ex-{i}" for i in range(6, -1, -1)]
    assert await ids(workflow_id="a", limit=2) == ["ex-5", "ex-3", "ex-1"]
    assert await ids(status=ExecutionStatus.FAILED) == ["ex-3"]
    window = {"started_after": T0 + timedelta(minutes=2), "started_before": T0 + timedelta(minutes=5)}
    assert await ids(**window) == ["ex-4", "ex-3", "ex-2"]
    # naive datetimes are taken as UTC
    naive = T0.replace(tzinfo=None) + timedelta(minutes=6)
    assert await ids(started_after=naive) == ["ex-6"]
    assert await ids(workflow_id="b", status=ExecutionStatus.SUCCEEDED, limit=1) == [
        "ex-6",
        "ex-4",
        "ex-2",
        "ex-0",
    ]


async def test_find_filters_by_workflow_ids(executions: ExecutionStore) -> None:
    """``workflow_ids`` keeps executions of those workflows only (never those without a
    workflow); an empty set finds nothing."""
    for i, workflow_id in enumerate(["a", "b", "c", None, "a", "b"]):
        await executions.execution_started(
            record(f"ex-{i}", at=T0 + timedelta(minutes=i), workflow_id=workflow_id)
        )

    async def ids(**query: Any) -> list[str]:
        out, cursor = [], None
        while True:
            page = await executions.find(ExecutionQuery(cursor=cursor, **query))
            out += [r.id for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return out

    assert await ids(workflow_ids=frozenset({"a", "c", "z"}), limit=2) == ["ex-4", "ex-2", "ex-0"]
    assert await ids(workflow_ids=frozenset({"a", "b"}), workflow_id="b") == ["ex-5", "ex-1"]
    assert await ids(workflow_ids=frozenset({"a"}), workflow_id="b") == []
    assert await ids(workflow_ids=frozenset()) == []
    assert len(await ids(workflow_ids=None)) == 6


async def test_find_breaks_time_ties_by_id(executions: ExecutionStore) -> None:
    for i in range(5):
        await executions.execution_started(record(f"ex-{i}"))
    first = await executions.find(ExecutionQuery(limit=2))
    assert [r.id for r in first.items] == ["ex-4", "ex-3"]
    second = await executions.find(ExecutionQuery(limit=2, cursor=first.next_cursor))
    assert [r.id for r in second.items] == ["ex-2", "ex-1"]


async def test_find_refuses_a_bad_cursor(executions: ExecutionStore) -> None:
    with pytest.raises(InputInvalid):
        await executions.find(ExecutionQuery(cursor="!!"))


async def test_delete_removes_record_and_pending_runs(executions: ExecutionStore) -> None:
    rec = record("ex-1")
    await executions.execution_started(rec)
    await report(executions, rec, run("Start", 0))
    other = record("ex-2")
    await executions.execution_started(other)
    await report(executions, other, run("Start", 0))
    assert await executions.delete("ex-1") is True
    await executions.flush()
    assert await executions.get("ex-1") is None
    assert (await executions.find(ExecutionQuery())).items[0].id == "ex-2"
    kept = await executions.get("ex-2")
    assert kept is not None and len(kept.node_runs) == 1
