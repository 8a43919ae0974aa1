"""FiredSlotStore contract: memory, SQLite and PostgreSQL agree that a slot fires once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from relayflow.engine.memory import FakeClock
from relayflow.store.fired_slots import MemoryFiredSlotStore
from relayflow.store.ports import FiredSlotStore, WorkflowStore
from relayflow.store.sql.fired_slots import open_fired_slots

AT = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)


async def _open(db_url: str | None, clock: FakeClock) -> FiredSlotStore:
    return MemoryFiredSlotStore() if db_url is None else await open_fired_slots(db_url, clock=clock)


@pytest.fixture
async def slots(db_url: str | None, clock: FakeClock) -> AsyncIterator[FiredSlotStore]:
    store = await _open(db_url, clock)
    yield store
    await store.close()


@pytest.fixture
async def wf_id(workflows: WorkflowStore) -> str:
    # on SQL a fired slot belongs to a stored workflow (foreign key)
    return (await workflows.create({"name": "scheduled", "nodes": []})).id


async def test_the_first_claim_wins(slots: FiredSlotStore, wf_id: str) -> None:
    assert await slots.claim(wf_id, "Schedule", "0@2024-03-31T01:00:00Z", AT) is True
    assert await slots.claim(wf_id, "Schedule", "0@2024-03-31T01:00:00Z", AT) is False


async def test_slots_are_per_node_and_per_time(slots: FiredSlotStore, wf_id: str) -> None:
    later = AT + timedelta(minutes=5)
    assert await slots.claim(wf_id, "Schedule", "0@a", AT)
    assert await slots.claim(wf_id, "Cron", "0@a", AT)
    assert await slots.claim(wf_id, "Schedule", "0@b", later)


async def test_last_fired_is_the_latest_slot(slots: FiredSlotStore, wf_id: str) -> None:
    assert await slots.last_fired(wf_id, "Schedule") is None
    await slots.claim(wf_id, "Schedule", "k2", AT + timedelta(hours=2))
    await slots.claim(wf_id, "Schedule", "k1", AT)
    await slots.claim(wf_id, "Other", "k3", AT + timedelta(hours=5))
    last = await slots.last_fired(wf_id, "Schedule")
    assert last == AT + timedelta(hours=2)
    assert last is not None and last.tzinfo is not None


async def test_a_slot_is_the_same_in_any_timezone(slots: FiredSlotStore, wf_id: str) -> None:
    paris = AT.astimezone(datetime.fromisoformat("2024-01-01T00:00:00+02:00").tzinfo)
    assert await slots.claim(wf_id, "Schedule", "k", AT)
    assert await slots.claim(wf_id, "Schedule", "k", paris) is False


async def test_concurrent_claims_on_two_handles_fire_once(
    slots: FiredSlotStore, wf_id: str, db_url: str | None, clock: FakeClock
) -> None:
    other = slots if db_url is None else await _open(db_url, clock)
    try:
        claims = [s.claim(wf_id, "Schedule", "k", AT) for s in (slots, other) for _ in range(5)]
        won = await asyncio.gather(*claims)
    finally:
        if other is not slots:
            await other.close()
    assert sorted(won) == [False] * 9 + [True]


# the SQL stores only: in-memory slots do not know the workflows (no foreign key)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def test_a_deleted_workflow_does_not_fire(slots: FiredSlotStore, workflows: WorkflowStore) -> None:
    wf = await workflows.create({"name": "gone", "nodes": []})
    await workflows.delete(wf.id)
    assert await slots.claim(wf.id, "Schedule", "k", AT) is False
