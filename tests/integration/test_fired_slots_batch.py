"""``FiredSlotStore.claim_many`` on SQLite and PostgreSQL (and memory, the reference): one batch
answers like as many ``claim`` calls, in order, also for slots asked twice, slots already taken,
and slots of a deleted workflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from relayflow.store.fired_slots import MemoryFiredSlotStore
from relayflow.store.ports import FiredSlotStore, WorkflowStore
from relayflow.store.sql import open_sql_stores
from relayflow.store.sql.fired_slots import open_fired_slots

AT = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sql"])
async def stores(
    request: pytest.FixtureRequest, sql_url: str
) -> AsyncIterator[tuple[WorkflowStore, FiredSlotStore]]:
    workflows, executions = await open_sql_stores(sql_url)
    slots: FiredSlotStore = (
        MemoryFiredSlotStore() if request.param == "memory" else await open_fired_slots(sql_url)
    )
    yield workflows, slots
    for store in (slots, executions, workflows):
        await store.close()


async def test_a_batch_answers_in_order_like_single_claims(
    stores: tuple[WorkflowStore, FiredSlotStore],
) -> None:
    workflows, slots = stores
    a = (await workflows.create({"name": "a", "nodes": []})).id
    b = (await workflows.create({"name": "b", "nodes": []})).id
    assert await slots.claim(a, "Schedule", "k", AT)
    batch = [
        (a, "Schedule", AT),  # taken already
        (b, "Schedule", AT),
        (a, "Schedule", AT + timedelta(seconds=1)),
        (b, "Schedule", AT.replace(microsecond=250_000)),  # the same slot as the second: whole seconds
        (a, "Cron", AT),
    ]
    assert await slots.claim_many(batch) == [False, True, True, False, True]
    assert await slots.claim_many(batch) == [False] * 5
    assert await slots.claim_many([]) == []
    assert await slots.last_fired(a, "Schedule") == AT + timedelta(seconds=1)


async def test_a_large_batch_is_claimed_whole(stores: tuple[WorkflowStore, FiredSlotStore]) -> None:
    workflows, slots = stores
    ids = [(await workflows.create({"name": f"w{i}", "nodes": []})).id for i in range(3)]
    batch = [(wf, f"n{k}", AT) for wf in ids for k in range(400)]  # more than one INSERT's worth
    assert await slots.claim_many(batch) == [True] * len(batch)
    assert await slots.claim_many(batch[::7]) == [False] * len(batch[::7])


async def test_concurrent_batches_split_the_slots_without_overlap(
    stores: tuple[WorkflowStore, FiredSlotStore], sql_url: str
) -> None:
    workflows, slots = stores
    ids = [(await workflows.create({"name": f"w{i}", "nodes": []})).id for i in range(20)]
    batch = [(wf, "Schedule", AT) for wf in ids]
    other = slots if isinstance(slots, MemoryFiredSlotStore) else await open_fired_slots(sql_url)
    try:
        first, second = await asyncio.gather(slots.claim_many(batch), other.claim_many(batch[::-1]))
    finally:
        if other is not slots:
            await other.close()
    won = [x or y for x, y in zip(first, second[::-1], strict=True)]
    both = [x and y for x, y in zip(first, second[::-1], strict=True)]
    assert all(won) and not any(both)


@pytest.fixture
async def sql_stores(sql_url: str) -> AsyncIterator[tuple[WorkflowStore, FiredSlotStore]]:
    """The SQL stores only: in-memory slots do not know the workflows (no foreign key)."""
    workflows, executions = await open_sql_stores(sql_url)
    slots = await open_fired_slots(sql_url)
    yield workflows, slots
    for store in (slots, executions, workflows):
        await store.close()


async def test_a_deleted_workflow_in_a_batch_loses_only_its_slots(
    sql_stores: tuple[WorkflowStore, FiredSlotStore],
) -> None:
    workflows, slots = sql_stores
    kept = (await workflows.create({"name": "kept", "nodes": []})).id
    gone = (await workflows.create({"name": "gone", "nodes": []})).id
    await workflows.delete(gone)
    batch = [(kept, "Schedule", AT), (gone, "Schedule", AT), (kept, "Schedule", AT + timedelta(minutes=1))]
    assert await slots.claim_many(batch) == [True, False, True]
