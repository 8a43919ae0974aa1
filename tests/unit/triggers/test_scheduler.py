"""The scheduler loop on a FakeClock and the memory stores (two-scheduler runs also on SQLite)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relayflow.api import build_services
from relayflow.engine.executor import Engine
from relayflow.engine.memory import FakeClock
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import InputInvalid
from relayflow.runtime import build_engine
from relayflow.server import start_scheduler, stop_scheduler
from relayflow.store.fired_slots import MemoryFiredSlotStore
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.ports import ExecutionQuery, ExecutionStore, FiredSlotStore, WorkflowStore
from relayflow.store.sql import open_sql_stores
from relayflow.store.sql.fired_slots import open_fired_slots
from relayflow.triggers.scheduler import Scheduler, SchedulerSettings, trigger_item
from tests.api.conftest import eventually

START = datetime(2024, 1, 1, 9, 0, 30, tzinfo=UTC)
EVERY_MINUTE = {"rule": {"interval": [{"field": "minutes", "minutesInterval": 1}]}}


def scheduled(
    params: dict[str, Any] | None = None, *, active: bool = True, **settings: Any
) -> dict[str, Any]:
    return {
        "name": "scheduled",
        "active": active,
        "nodes": [
            {
                "name": "Schedule",
                "type": "n8n-nodes-base.scheduleTrigger",
                "typeVersion": 1.2,
                "parameters": EVERY_MINUTE if params is None else params,
            },
            {"name": "Done", "type": "relayflow.noOp", "parameters": {}},
        ],
        "connections": {"Schedule": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
        "settings": settings,
    }


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.workflows: WorkflowStore = MemoryWorkflowStore(self.clock)
        self.executions: ExecutionStore = MemoryExecutionStore()
        self.slots: FiredSlotStore = MemoryFiredSlotStore()
        self.engine: Engine = build_engine(store=self.executions, clock=self.clock)

    def scheduler(self, **kw: Any) -> Scheduler:
        return Scheduler(self.workflows, self.slots, self.engine, clock=self.clock, refresh_s=5, **kw)

    async def runs(self, *schedulers: Scheduler) -> list[ExecutionRecord]:
        for s in schedulers:
            await s.drain(5.0)
        page = await self.executions.find(ExecutionQuery(limit=500))
        found = [await self.executions.get(r.id) for r in page.items]
        return sorted((r for r in found if r is not None), key=lambda r: r.started_at)


def _fired_at(record: ExecutionRecord) -> str:
    out = record.runs_of("Schedule")[0].output
    assert out is not None
    return str(out[0][0]["json"]["timestamp"])


@pytest.fixture
def world() -> World:
    return World()


async def test_fires_every_slot_on_time_with_n8n_items(world: World) -> None:
    wf = await world.workflows.create(scheduled())
    s = world.scheduler()
    await s.run_until(START + timedelta(minutes=3))
    runs = await world.runs(s)
    assert [r.started_at for r in runs] == [START + timedelta(seconds=30 + 60 * i) for i in range(3)]
    assert {(r.mode, r.workflow_id, r.status.value) for r in runs} == {("trigger", wf.id, "succeeded")}
    assert _fired_at(runs[0]) == "2024-01-01T09:01:00.000+00:00"
    assert runs[0].runs_of("Done")[0].items_in == [1]


async def test_the_fake_clock_is_never_slept_past_a_refresh(world: World) -> None:
    await world.workflows.create(scheduled())
    s = world.scheduler()
    await s.run_until(START + timedelta(minutes=1))
    assert world.clock.now() == START + timedelta(minutes=1)
    assert world.clock.sleeps and max(world.clock.sleeps) <= 5
    assert s.next_fire_at(*next(iter(s.schedules))) == START + timedelta(seconds=90)


async def test_two_schedulers_on_one_store_fire_each_slot_once(world: World) -> None:
    await world.workflows.create(scheduled())
    first, second = world.scheduler(), world.scheduler()
    started = {first: 0, second: 0}
    for step in range(12):  # six minutes in 30-second steps; each minute the other goes first
        for s in (second, first) if step // 2 % 2 else (first, second):
            started[s] += await s.step()
        world.clock.advance(30)
    assert list(started.values()) == [3, 3]
    runs = await world.runs(first, second)
    stamps = sorted(_fired_at(r) for r in runs)
    assert stamps == [f"2024-01-01T09:0{m}:00.000+00:00" for m in range(1, 7)]


async def test_two_schedulers_on_sqlite_fire_each_slot_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/relayflow.db"
    clock = FakeClock(START)
    workflows, executions = await open_sql_stores(url, clock=clock)
    slots = [await open_fired_slots(url, clock=clock) for _ in range(2)]
    try:
        await workflows.create(scheduled())
        engine = build_engine(store=executions, clock=clock)
        pair = [Scheduler(workflows, s, engine, clock=clock, refresh_s=5) for s in slots]
        started = 0
        for _ in range(6):
            for s in pair:
                started += await s.step()
            for s in pair:
                await s.drain(30.0)
            clock.advance(30)
        page = await executions.find(ExecutionQuery(limit=50))
        assert started == 3 and len(page.items) == 3
    finally:
        for store in (*slots, executions, workflows):
            await store.close()


async def test_deactivating_stops_fires_at_the_next_refresh(world: World) -> None:
    wf = await world.workflows.create(scheduled())
    s = world.scheduler()
    await s.run_until(START + timedelta(minutes=2))
    await world.workflows.set_active(wf.id, False)
    await s.run_until(START + timedelta(minutes=5))
    assert len(await world.runs(s)) == 2
    assert s.schedules == {}


async def test_wake_picks_up_a_new_workflow_at_once(world: World) -> None:
    s = world.scheduler()
    await s.step()
    wf = await world.workflows.create(scheduled())
    await s.step()
    assert s.schedules == {}  # not refreshed yet: the refresh interval has not passed
    s.wake()
    await s.step()
    assert list(s.schedules) == [(wf.id, "Schedule")]


async def test_inactive_disabled_and_expression_nodes_do_not_fire(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.workflows.create(scheduled(active=False))
    disabled = scheduled()
    disabled["nodes"][0]["disabled"] = True
    await world.workflows.create(disabled)
    expr = {"rule": {"interval": [{"field": "minutes", "minutesInterval": "={{ 1 + 1 }}"}]}}
    await world.workflows.create(scheduled(expr))
    await world.workflows.create(scheduled({"rule": {"interval": [{"field": "cronExpression"}]}}))
    s = world.scheduler()
    with caplog.at_level(logging.WARNING, "relayflow.scheduler"):
        await s.run_until(START + timedelta(minutes=2))
    assert s.schedules == {}
    assert await world.runs(s) == []
    assert "cannot be expressions" in caplog.text
    assert "cron expression is required" in caplog.text


async def test_workflow_timezone_sets_the_wall_clock(world: World) -> None:
    daily = {"rule": {"interval": [{"field": "days", "triggerAtHour": 11}]}}
    await world.workflows.create(scheduled(daily, timezone="Europe/Paris"))
    s = world.scheduler()
    await s.run_until(START + timedelta(hours=1))
    (run,) = await world.runs(s)
    assert run.started_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    out = run.runs_of("Schedule")[0].output
    assert out is not None
    item = out[0][0]["json"]
    assert (item["Hour"], item["Timezone"]) == ("11", "Europe/Paris (UTC+01:00)")


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("fireOnce", 1)])
async def test_misfire_policy_after_downtime(world: World, policy: str, expected: int) -> None:
    wf = await world.workflows.create(scheduled())
    last = START - timedelta(hours=1, seconds=30)  # 08:00, then the scheduler was down
    await world.slots.claim(wf.id, "Schedule", "0@old", last)
    s = world.scheduler(misfire=policy)
    await s.step()
    runs = await world.runs(s)
    assert len(runs) == expected
    if expected:
        # the catch-up is the latest missed slot (09:00): a second scheduler cannot fire it again
        assert await world.slots.last_fired(wf.id, "Schedule") == START - timedelta(seconds=30)
        assert await world.slots.claim(wf.id, "Schedule", "0@x", START - timedelta(seconds=30)) is False


class StopAt:
    """The world's clock, that stops a scheduler once a sleep reaches ``deadline``."""

    def __init__(self, clock: FakeClock, deadline: datetime) -> None:
        self.clock, self.deadline = clock, deadline
        self.scheduler: Scheduler | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def monotonic(self) -> float:
        return self.clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
        if self.scheduler is not None and self.now() >= self.deadline:
            self.scheduler.stop()


async def test_run_returns_after_stop(world: World) -> None:
    await world.workflows.create(scheduled())
    clock = StopAt(world.clock, START + timedelta(minutes=2))
    s = clock.scheduler = Scheduler(world.workflows, world.slots, world.engine, clock=clock, refresh_s=5)
    await asyncio.wait_for(s.run(), 5.0)
    assert world.clock.now() == START + timedelta(minutes=2)
    assert len(await world.runs(s)) == 2


def test_trigger_item_has_n8n_fields() -> None:
    item = trigger_item(datetime(2024, 7, 3, 13, 5, 9, tzinfo=UTC), "America/New_York")
    assert item == {
        "timestamp": "2024-07-03T09:05:09.000-04:00",
        "Readable date": "July 3rd 2024, 9:05:09 am",
        "Readable time": "9:05:09 am",
        "Day of week": "Wednesday",
        "Year": "2024",
        "Month": "July",
        "Day of month": "03",
        "Hour": "09",
        "Minute": "05",
        "Second": "09",
        "Timezone": "America/New_York (UTC-04:00)",
    }


def test_settings_from_env() -> None:
    env = {"RELAYFLOW_SCHEDULER_REFRESH_S": "2.5", "RELAYFLOW_SCHEDULE_MISFIRE": "fireOnce"}
    assert SchedulerSettings.from_env(env) == SchedulerSettings(2.5, "fireOnce")
    assert SchedulerSettings.from_env({}) == SchedulerSettings()
    for bad in ({"RELAYFLOW_SCHEDULER_REFRESH_S": "0"}, {"RELAYFLOW_SCHEDULE_MISFIRE": "all"}):
        with pytest.raises(InputInvalid):
            SchedulerSettings.from_env(bad)


async def test_the_server_runs_the_scheduler_next_to_the_api() -> None:
    workflows, executions = MemoryWorkflowStore(), MemoryExecutionStore()
    services = build_services(workflows, executions)
    every_second = {"rule": {"interval": [{"field": "seconds", "secondsInterval": 1}]}}
    wf = await workflows.create(scheduled(every_second))
    scheduler = start_scheduler(services, MemoryFiredSlotStore(), SchedulerSettings(refresh_s=0.05))
    try:
        page = await eventually(
            lambda: executions.find(ExecutionQuery(workflow_id=wf.id)), lambda p: bool(p.items)
        )
        assert page.items[0].mode == "trigger"
    finally:
        await stop_scheduler(scheduler, grace_s=5.0)
    assert scheduler.loop is not None and scheduler.loop.done()
    assert not scheduler.tasks
