"""The scheduler's claim-ahead loop on a FakeClock: slots are claimed ``claim_ahead_s`` before
they are due, in one batch, and started at their time; refreshes keep out of the way."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from relayflow.errors import InputInvalid
from relayflow.store.fired_slots import MemoryFiredSlotStore
from relayflow.store.ports import WorkflowQuery
from relayflow.triggers.scheduler import Scheduler
from tests.unit.triggers.test_scheduler import START, World, scheduled

NEXT_SLOT = START + timedelta(seconds=30)  # 09:01:00, the first every-minute slot after START


@pytest.fixture
def world() -> World:
    return World()


class CountingSlots(MemoryFiredSlotStore):
    """Memory slots that record each batch they are asked to claim."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def claim_many(self, slots: Any) -> list[bool]:
        self.batches.append(len(slots))
        return await super().claim_many(slots)


class CountingWorkflows:
    """The world's workflow store, counting ``find`` calls (one refresh reads one page here)."""

    def __init__(self, world: World) -> None:
        self.inner, self.finds = world.workflows, 0

    async def find(self, query: WorkflowQuery) -> Any:
        self.finds += 1
        return await self.inner.find(query)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_slot_is_claimed_ahead_and_started_at_its_time(world: World) -> None:
    wf = await world.workflows.create(scheduled())
    s = world.scheduler(claim_ahead_s=1.0)
    await s.step()
    world.clock.advance(29.5)  # 09:00:59.5: within the lead
    assert await s.step() == 0
    assert await world.slots.claim(wf.id, "Schedule", "k", NEXT_SLOT) is False  # already ours
    assert s.next_fire_at(wf.id, "Schedule") == NEXT_SLOT + timedelta(minutes=1)
    assert await world.runs(s) == []
    world.clock.advance(0.5)
    assert await s.step() == 1
    (run,) = await world.runs(s)
    assert run.started_at == NEXT_SLOT


async def test_slots_due_together_are_claimed_in_one_batch(world: World) -> None:
    world.slots = slots = CountingSlots()
    for _ in range(5):
        await world.workflows.create(scheduled())
    s = world.scheduler()
    await s.run_until(NEXT_SLOT + timedelta(seconds=1))
    assert slots.batches == [5]
    assert len(await world.runs(s)) == 5


async def test_stop_still_starts_the_slots_already_claimed(world: World) -> None:
    await world.workflows.create(scheduled())
    s = world.scheduler(claim_ahead_s=1.0)
    await s.step()
    world.clock.advance(29.5)
    await s.step()  # claimed, due in 0.5 s
    s.stop()
    await asyncio.wait_for(s.run(), 5.0)
    (run,) = await world.runs(s)
    assert run.started_at == NEXT_SLOT


async def test_a_workflow_deactivated_after_the_claim_does_not_fire(world: World) -> None:
    wf = await world.workflows.create(scheduled())
    s = world.scheduler(claim_ahead_s=1.0)
    await s.step()
    world.clock.advance(29.5)
    await s.step()
    await world.workflows.set_active(wf.id, False)
    s.wake()
    world.clock.advance(0.5)
    assert await s.step() == 0
    assert await world.runs(s) == []


async def test_a_periodic_refresh_waits_until_the_fire_close_by(world: World) -> None:
    counting = CountingWorkflows(world)
    await counting.inner.create(scheduled())
    # refreshed at 09:00:30, next due at 09:00:59.8: 0.2 s before the slot
    s = Scheduler(counting, world.slots, world.engine, clock=world.clock, refresh_s=29.8, claim_ahead_s=0)  # type: ignore[arg-type]
    await s.step()
    world.clock.advance(29.8)
    assert await s.step() == 0
    assert counting.finds == 1  # postponed
    assert s._sleep_s() == pytest.approx(0.2)
    world.clock.advance(0.2)
    assert await s.step() == 1  # fired first, refreshed right after
    assert counting.finds == 2


async def test_a_refresh_parses_only_workflows_saved_since(world: World, monkeypatch: Any) -> None:
    from relayflow.triggers import scheduler as module

    parsed: list[str] = []
    original = module.schedules_of

    def counting(stored: Any, registry: Any = None) -> Any:
        parsed.append(stored.id)
        return original(stored, registry)

    monkeypatch.setattr(module, "schedules_of", counting)
    first = await world.workflows.create(scheduled())
    second = await world.workflows.create(scheduled())
    s = world.scheduler()
    await s.refresh()
    await s.refresh()
    assert sorted(parsed) == sorted([first.id, second.id])
    edited = await world.workflows.get(second.id)
    assert edited is not None
    await world.workflows.update(second.id, {**edited.data, "name": "renamed"})
    await s.refresh()
    assert parsed[2:] == [second.id]


async def test_scheduler_refuses_a_negative_claim_lead(world: World) -> None:
    with pytest.raises(InputInvalid):
        Scheduler(world.workflows, world.slots, world.engine, claim_ahead_s=-1)
