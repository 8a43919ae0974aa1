"""Durable waits in the ExecutionStore contract: a WAITING record stores its wait with its status;
claiming deletes it for exactly one claimer; on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from relayflow.engine.run import ExecutionStatus
from relayflow.store.ports import ExecutionStore
from tests.contract.test_execution_store import T0, record, report, run

DUE = T0 + timedelta(minutes=5)


async def park(store: ExecutionStore, id_: str, *, due: bool = True, webhook: bool = False) -> None:
    rec = record(id_, workflow_version="v1")
    await store.execution_started(rec)
    await report(store, rec, run("Trigger", 0), run("Set", 1))
    rec.status = ExecutionStatus.WAITING
    rec.wait_till = DUE if due else None
    rec.waiting = [
        {
            "node": "Wait",
            "runIndex": 0,
            "until": DUE.isoformat() if due else None,
            "webhook": {"httpMethod": "POST", "responseMode": "onReceived"} if webhook else None,
        }
    ]
    await store.execution_finished(rec)


async def test_a_waiting_execution_keeps_its_runs_and_its_wait(executions: ExecutionStore) -> None:
    await park(executions, "e1", webhook=True)
    got = await executions.get("e1")
    assert got is not None and got.status is ExecutionStatus.WAITING
    assert [r.node for r in got.node_runs] == ["Trigger", "Set"]
    assert got.node_runs[1].output == [
        [{"json": {"n": 1, "text": "héllo ✓", "nested": {"x": [1, 2.5, None, True]}}}]
    ]
    assert got.wait_till == DUE and got.finished_at is None
    assert got.waiting[0]["node"] == "Wait" and got.waiting[0]["webhook"]["httpMethod"] == "POST"
    assert got.to_dict()["waitTill"] == DUE.isoformat()
    wait = await executions.parked_one("e1")
    assert wait is not None
    assert (wait.execution_id, wait.workflow_id, wait.due_at, wait.webhook) == ("e1", "wf1", DUE, True)


async def test_parked_pages_through_every_wait_in_id_order(executions: ExecutionStore) -> None:
    for i in range(5):
        await park(executions, f"e{i}", due=i % 2 == 0)
    first = await executions.parked(limit=3)
    rest = await executions.parked(after=first[-1].execution_id, limit=3)
    assert [w.execution_id for w in first + rest] == ["e0", "e1", "e2", "e3", "e4"]
    assert [w.due_at for w in first + rest] == [DUE, None, DUE, None, DUE]


async def test_a_claim_wins_once(executions: ExecutionStore) -> None:
    await park(executions, "e1")
    claims = await asyncio.gather(*(executions.claim_parked("e1") for _ in range(4)))
    assert sum(c is not None for c in claims) == 1
    assert await executions.parked_one("e1") is None
    assert await executions.claim_parked("e1") is None


async def test_a_timer_claim_waits_for_the_due_time(executions: ExecutionStore) -> None:
    await park(executions, "timer")
    await park(executions, "call-only", due=False, webhook=True)
    assert await executions.claim_parked("timer", due_by=DUE - timedelta(seconds=1)) is None
    assert await executions.claim_parked("call-only", due_by=DUE + timedelta(days=1)) is None
    claimed = await executions.claim_parked("timer", due_by=DUE)
    assert claimed is not None and claimed.nodes[0]["until"] == DUE.isoformat()
    assert await executions.claim_parked("call-only") is not None


async def test_deleting_the_execution_deletes_its_wait(executions: ExecutionStore) -> None:
    await park(executions, "e1")
    assert await executions.delete("e1")
    assert await executions.parked_one("e1") is None and await executions.parked() == []


async def test_a_resumed_execution_continues_under_its_id(executions: ExecutionStore) -> None:
    await park(executions, "e1")
    assert await executions.claim_parked("e1") is not None
    stored = await executions.get("e1")
    assert stored is not None
    # the engine continues it: same id and start time, the finished runs already in the record
    rec = record("e1")
    rec.node_runs = list(stored.node_runs)
    await executions.execution_started(rec)
    await report(executions, rec, run("Wait", 2), run("Done", 3))
    rec.status = ExecutionStatus.SUCCEEDED
    rec.finished_at = T0 + timedelta(minutes=6)
    await executions.execution_finished(rec)
    got = await executions.get("e1")
    assert got is not None and got.status is ExecutionStatus.SUCCEEDED
    assert [r.node for r in got.node_runs] == ["Trigger", "Set", "Wait", "Done"]
    assert got.wait_till is None and got.waiting == []
    assert await executions.parked() == []


async def test_take_claims_and_reads_the_record_at_once(executions: ExecutionStore) -> None:
    await park(executions, "e1")
    assert await executions.take_parked("e1", due_by=DUE - timedelta(seconds=1)) is None
    taken = await executions.take_parked("e1", due_by=DUE)
    assert taken is not None
    wait, rec = taken
    assert (wait.execution_id, wait.version_id) == ("e1", "v1")
    assert [r.node for r in rec.node_runs] == ["Trigger", "Set"]
    assert rec.node_runs[0].output is not None
    assert await executions.take_parked("e1") is None
