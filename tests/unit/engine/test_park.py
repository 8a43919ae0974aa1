"""Parking: a node that parks ends the execution ``waiting`` with its wait in the record; resuming
from the stored record continues under the same id without running finished nodes again."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from relayflow.engine.executor import Engine
from relayflow.engine.memory import FakeClock
from relayflow.engine.run import ExecutionStatus
from relayflow.store.memory import MemoryExecutionStore
from relayflow.testing import make_engine
from relayflow.workflow.parse import parse_workflow


def wf(*nodes: dict[str, Any], **extra: Any) -> Any:
    names = [n["name"] for n in nodes]
    connections = {
        a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in itertools.pairwise(names)
    }
    data = {"name": "Park", "nodes": list(nodes), "connections": connections, "staticData": {}, **extra}
    return parse_workflow(data)


def n(name: str, type_: str, version: float = 1, **parameters: Any) -> dict[str, Any]:
    return {"name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "parameters": parameters}


def counter(name: str) -> dict[str, Any]:
    """A Code node that counts its runs in the workflow's static data."""
    code = f"const s = $getWorkflowStaticData('global'); s['{name}'] = (s['{name}'] || 0) + 1; return $input.all();"
    return n(name, "code", 2, jsCode=code)


def engine(**overrides: Any) -> tuple[Engine, MemoryExecutionStore, FakeClock]:
    store = MemoryExecutionStore()
    clock = FakeClock()
    eng = make_engine(clock=clock, store=store, durable_waits=True, **overrides)
    return eng, store, clock


def state_of(record: Any) -> dict[str, dict[str, Any]]:
    return {w["node"]: {"until": w["until"], "request": None} for w in record.waiting}


async def test_a_long_wait_parks_and_resumes_without_rerunning_finished_nodes() -> None:
    eng, store, clock = engine()
    workflow = wf(
        n("Start", "manualTrigger"), counter("Before"), n("Wait", "wait", 1.1, amount=10), counter("After")
    )
    parked = await eng.run(workflow)
    assert parked.status is ExecutionStatus.WAITING and parked.finished_at is None
    assert parked.wait_till == clock.now() + timedelta(seconds=10)
    assert parked.waiting == [
        {"node": "Wait", "runIndex": 0, "until": parked.wait_till.isoformat(), "webhook": None}
    ]
    assert [r.node for r in parked.node_runs] == ["Start", "Before"]
    assert clock.sleeps == []  # nothing slept: it parked
    clock.advance(10)
    stored = await store.get(parked.id)
    assert stored is not None and stored.status is ExecutionStatus.WAITING
    done = await eng.resume_parked(workflow, stored, state_of(stored))
    assert done.id == parked.id and done.started_at == parked.started_at
    assert done.status is ExecutionStatus.SUCCEEDED
    assert [r.node for r in done.node_runs] == ["Start", "Before", "Wait", "After"]
    assert workflow.staticData == {"global": {"Before": 1, "After": 1}}  # each ran once


async def test_a_resume_before_the_time_parks_again_until_the_same_moment() -> None:
    eng, _store, clock = engine()
    workflow = wf(n("Start", "manualTrigger"), n("Wait", "wait", 1.1, amount=10))
    parked = await eng.run(workflow)
    clock.advance(4)
    early = await eng.resume_parked(workflow, parked, state_of(parked))
    assert early.status is ExecutionStatus.WAITING
    assert early.wait_till == parked.wait_till  # not another 10 s from now


async def test_short_waits_sleep_in_process() -> None:
    eng, _, clock = engine(wait_park_after_s=5)
    done = await eng.run(wf(n("Start", "manualTrigger"), n("Wait", "wait", 1.1, amount=2)))
    assert done.status is ExecutionStatus.SUCCEEDED and clock.sleeps == [2]


async def test_two_waits_in_a_row_park_twice() -> None:
    eng, _, clock = engine()
    workflow = wf(
        n("Start", "manualTrigger"),
        n("First", "wait", 1.1, amount=5),
        n("Second", "wait", 1.1, amount=1, unit="minutes"),
        counter("End"),
    )
    record = await eng.run(workflow)
    assert record.waiting[0]["node"] == "First"
    clock.advance(5)
    record = await eng.resume_parked(workflow, record, state_of(record))
    assert record.status is ExecutionStatus.WAITING and record.waiting[0]["node"] == "Second"
    clock.advance(60)
    record = await eng.resume_parked(workflow, record, state_of(record))
    assert record.status is ExecutionStatus.SUCCEEDED
    assert [r.node for r in record.node_runs] == ["Start", "First", "Second", "End"]


async def test_a_park_is_not_retried_as_a_failure() -> None:
    eng, _, _ = engine()
    wait = {**n("Wait", "wait", 1.1, amount=10), "retryOnFail": True, "maxTries": 3}
    parked = await eng.run(wf(n("Start", "manualTrigger"), wait))
    assert parked.status is ExecutionStatus.WAITING and parked.error is None


async def test_a_call_wait_without_the_server_fails_clearly() -> None:
    eng = make_engine(fake_clock=True)  # durable_waits off: relayflow run
    failed = await eng.run(wf(n("Start", "manualTrigger"), n("Wait", "wait", 1.1, resume="webhook")))
    assert failed.status is ExecutionStatus.FAILED
    assert failed.error is not None and "needs the server" in failed.error["message"]
