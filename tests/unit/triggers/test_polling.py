"""The polling-trigger mechanism on a FakeClock: a test node that polls a list (no sockets), the
memory stores, and SQLite for the restart. An empty poll records nothing; new items start
exactly one execution; the cursor lives in the workflow's static data and survives a restart."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from relayflow.engine.executor import Engine
from relayflow.engine.items import Items
from relayflow.engine.memory import FakeClock
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import NodeError
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry
from relayflow.nodes.spec import N8nAlias, NodeSpec
from relayflow.nodes.triggers import CronTimes
from relayflow.runtime import build_engine
from relayflow.store.fired_slots import MemoryFiredSlotStore
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.ports import ExecutionQuery, ExecutionStore, FiredSlotStore, WorkflowStore
from relayflow.store.sql import open_sql_stores
from relayflow.store.sql.fired_slots import open_fired_slots
from relayflow.testing import run_workflow
from relayflow.triggers.polling import DEFAULT_POLL_TIMES, PollContext, polling_execute
from relayflow.triggers.schedule import CronRule, IntervalRule
from relayflow.triggers.scheduler import Scheduler, schedules_of
from relayflow.workflow.parse import parse_workflow

START = datetime(2024, 1, 1, 9, 0, 30, tzinfo=UTC)
# what the test node polls: entries {"n": int}; the cursor is the highest n emitted
SOURCE: list[dict[str, Any]] = []
POLLS: list[str] = []


class CounterParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pollTimes: CronTimes = DEFAULT_POLL_TIMES
    fail: bool = False


async def poll_counter(ctx: PollContext, params: CounterParams) -> Items:
    POLLS.append(ctx.mode)
    if params.fail:
        raise NodeError("the source is down")
    if ctx.mode == "manual":
        return [{"json": SOURCE[-1]}] if SOURCE else []
    last = ctx.cursor.get("last", 0)
    new = [e for e in SOURCE if e["n"] > last]
    if new:
        ctx.cursor["last"] = max(e["n"] for e in new)
    return [{"json": dict(e)} for e in new]


COUNTER = NodeSpec(
    type="test.counterTrigger",
    version=1,
    title="Counter Trigger",
    group="trigger",
    description="polls SOURCE",
    params=CounterParams,
    execute=polling_execute(poll_counter),
    inputs=(),
    trigger=True,
    poll=poll_counter,
    aliases=(N8nAlias("n8n-nodes-base.testCounterTrigger", (1,)),),
)
REGISTRY = Registry((*BUILTIN_SPECS, COUNTER))


def polled(params: dict[str, Any] | None = None, *, name: str = "polled") -> dict[str, Any]:
    return {
        "name": name,
        "active": True,
        "nodes": [
            {
                "name": "Poll",
                "type": "n8n-nodes-base.testCounterTrigger",
                "typeVersion": 1,
                "parameters": {} if params is None else params,
            },
            {"name": "Done", "type": "relayflow.noOp", "parameters": {}},
        ],
        "connections": {"Poll": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
    }


@pytest.fixture(autouse=True)
def source() -> Iterator[list[dict[str, Any]]]:
    SOURCE.clear()
    POLLS.clear()
    yield SOURCE
    SOURCE.clear()
    POLLS.clear()


class World:
    def __init__(self, workflows: WorkflowStore | None = None, executions: ExecutionStore | None = None):
        self.clock = FakeClock(START)
        self.workflows: WorkflowStore = workflows or MemoryWorkflowStore(self.clock)
        self.executions: ExecutionStore = executions or MemoryExecutionStore()
        self.slots: FiredSlotStore = MemoryFiredSlotStore()

    def engine(self) -> Engine:
        return build_engine(
            store=self.executions, clock=self.clock, registry=REGISTRY, static_data=self.workflows
        )

    def scheduler(self, engine: Engine | None = None) -> Scheduler:
        return Scheduler(self.workflows, self.slots, engine or self.engine(), clock=self.clock, refresh_s=5)

    async def runs(self, *schedulers: Scheduler) -> list[ExecutionRecord]:
        for s in schedulers:
            await s.drain(5.0)
        page = await self.executions.find(ExecutionQuery(limit=500))
        found = [await self.executions.get(r.id) for r in page.items]
        return sorted((r for r in found if r is not None), key=lambda r: r.started_at)


def emitted(record: ExecutionRecord) -> list[Any]:
    out = record.runs_of("Poll")[0].output
    assert out is not None
    return [it["json"]["n"] for it in out[0]]


@pytest.fixture
def world() -> World:
    return World()


async def test_poll_times_become_schedule_rules() -> None:
    every = {"item": [{"mode": "everyX", "value": 5, "unit": "minutes"}, {"mode": "everyHour", "minute": 7}]}
    wf = await MemoryWorkflowStore().create(polled({"pollTimes": every}))
    (sched,) = schedules_of(wf, REGISTRY)
    assert sched.poll is not None and sched.rules == (IntervalRule(300), CronRule("0 7 * * * *"))
    default = await MemoryWorkflowStore().create(polled())
    (sched,) = schedules_of(default, REGISTRY)
    assert sched.rules == (CronRule("0 * * * * *"),)


async def test_bad_poll_times_or_expressions_are_not_scheduled(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryWorkflowStore()
    bad = await store.create(polled({"pollTimes": {"item": [{"mode": "custom", "cronExpression": "nope"}]}}))
    expr = await store.create(polled({"fail": "={{ false }}"}))
    unknown = await store.create(polled({"surprise": 1}))
    with caplog.at_level(logging.WARNING, "relayflow.scheduler"):
        assert [schedules_of(w, REGISTRY) for w in (bad, expr, unknown)] == [[], [], []]
    assert "pollTimes.item[0].cronExpression" in caplog.text
    assert "cannot be expressions" in caplog.text
    assert "parameters.surprise" in caplog.text


async def test_empty_polls_record_nothing_and_new_items_run_once(world: World) -> None:
    wf = await world.workflows.create(polled())
    s = world.scheduler()
    await s.run_until(START + timedelta(minutes=3))  # three polls, nothing to find
    assert POLLS == ["trigger"] * 3
    assert await world.runs(s) == []
    SOURCE.extend([{"n": 1}, {"n": 2}])
    await s.run_until(START + timedelta(minutes=4))
    SOURCE.append({"n": 3})
    await s.run_until(START + timedelta(minutes=7))
    runs = await world.runs(s)
    assert [emitted(r) for r in runs] == [[1, 2], [3]]
    assert [r.started_at for r in runs] == [START + timedelta(minutes=m, seconds=30) for m in (3, 4)]
    assert {(r.mode, r.status.value, r.workflow_id) for r in runs} == {("trigger", "succeeded", wf.id)}
    assert runs[0].runs_of("Done")[0].items_in == [2]
    assert len(POLLS) == 7
    stored = await world.workflows.get(wf.id)
    assert stored is not None and stored.data["staticData"] == {"node:Poll": {"last": 3}}


async def test_two_schedulers_poll_each_slot_once(world: World) -> None:
    await world.workflows.create(polled())
    engine = world.engine()
    first, second = world.scheduler(engine), world.scheduler(engine)
    SOURCE.append({"n": 1})
    for step in range(8):
        for s in (second, first) if step % 2 else (first, second):
            await s.step()
            await s.drain(5.0)
        if step == 3:
            SOURCE.append({"n": 2})
        world.clock.advance(30)
    runs = await world.runs(first, second)
    assert len(POLLS) == 4
    assert [emitted(r) for r in runs] == [[1], [2]]


async def test_a_failed_poll_records_a_failed_execution_and_keeps_polling(world: World) -> None:
    wf = await world.workflows.create(polled({"fail": True}))
    s = world.scheduler()
    await s.run_until(START + timedelta(minutes=1))
    (run,) = await world.runs(s)
    assert run.status.value == "failed" and run.mode == "trigger"
    assert run.error is not None and run.error["node"] == "Poll"
    assert "the source is down" in run.error["message"]
    SOURCE.append({"n": 1})
    await world.workflows.update(wf.id, polled())
    s.wake()
    await s.run_until(START + timedelta(minutes=2))
    runs = await world.runs(s)
    assert [r.status.value for r in runs] == ["failed", "succeeded"] and emitted(runs[1]) == [1]


async def test_run_by_hand_polls_a_sample_and_keeps_no_cursor(world: World) -> None:
    SOURCE.extend([{"n": 1}, {"n": 2}])
    engine = world.engine()
    stored = await world.workflows.create(polled())
    record = await run_workflow(parse_workflow(stored.data, registry=REGISTRY), engine=engine)
    assert record.status.value == "succeeded" and emitted(record) == [2]
    assert POLLS == ["manual"]
    again = await world.workflows.get(stored.id)
    assert again is not None and "staticData" not in again.data


async def test_the_cursor_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/relayflow.db"
    clock = FakeClock(START)
    workflows, executions = await open_sql_stores(url, clock=clock)
    try:
        world = World(workflows, executions)
        world.clock = clock
        await workflows.create(polled())
        SOURCE.append({"n": 1})
        first = world.scheduler()
        await first.run_until(START + timedelta(minutes=2))
        assert [emitted(r) for r in await world.runs(first)] == [[1]]
        # a new process: a new engine (no static data in memory) and scheduler on the same stores
        SOURCE.append({"n": 2})
        second = world.scheduler()
        await second.run_until(START + timedelta(minutes=4))
        assert [emitted(r) for r in await world.runs(second)] == [[1], [2]]
    finally:
        await executions.close()
        await workflows.close()


async def test_a_slow_poll_skips_the_next_slot_instead_of_overlapping(world: World) -> None:
    wf = await world.workflows.create(polled())
    s = world.scheduler()
    await s.step()
    sched = s.schedules[(wf.id, "Poll")]
    assert sched.poll is not None
    s.poller._running.add((wf.id, "Poll"))  # a poll of this node is in progress
    assert await s.poller.fire(sched.workflow, wf.id, "Poll", sched.poll) is None
    assert POLLS == []


async def test_slots_claimed_in_sql_fire_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/relayflow.db"
    clock = FakeClock(START)
    workflows, executions = await open_sql_stores(url, clock=clock)
    slots = [await open_fired_slots(url, clock=clock) for _ in range(2)]
    try:
        await workflows.create(polled())
        engine = build_engine(store=executions, clock=clock, registry=REGISTRY, static_data=workflows)
        pair = [Scheduler(workflows, s, engine, clock=clock, refresh_s=5) for s in slots]
        SOURCE.append({"n": 1})
        for _ in range(6):
            for s in pair:
                await s.step()
            for s in pair:
                await s.drain(30.0)
            clock.advance(30)
        page = await executions.find(ExecutionQuery(limit=50))
        assert len(POLLS) == 3 and len(page.items) == 1
    finally:
        for slot_store in slots:
            await slot_store.close()
        await executions.close()
        await workflows.close()
