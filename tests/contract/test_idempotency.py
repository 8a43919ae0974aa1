"""IdempotencyStore contract: memory, SQLite and PostgreSQL agree that a key names one execution."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from relayflow.engine.memory import FakeClock
from relayflow.errors import InputInvalid, NotFound
from relayflow.store.idempotency import (
    Claimed,
    Existing,
    IdempotencyStore,
    MemoryIdempotencyStore,
    ttl_from_env,
)
from relayflow.store.ports import ExecutionStore, WorkflowStore
from relayflow.store.pruner import Pruner
from relayflow.store.retention import RetentionSettings
from relayflow.store.sql.idempotency import open_idempotency_store

H1, H2 = "a" * 64, "b" * 64


async def _open(db_url: str | None, clock: FakeClock) -> IdempotencyStore:
    if db_url is None:
        return MemoryIdempotencyStore(clock)
    return await open_idempotency_store(db_url, clock=clock)


@pytest.fixture
async def keys(db_url: str | None, clock: FakeClock) -> AsyncIterator[IdempotencyStore]:
    store = await _open(db_url, clock)
    yield store
    await store.close()


@pytest.fixture
async def wf_id(workflows: WorkflowStore) -> str:
    return (await workflows.create({"name": "hooked", "nodes": []})).id


async def test_the_first_claim_wins_and_later_ones_read_it(keys: IdempotencyStore, wf_id: str) -> None:
    assert await keys.claim(wf_id, "k", H1, "e1") == Claimed()
    assert await keys.claim(wf_id, "k", H1, "e2") == Existing("e1", H1)
    assert await keys.claim(wf_id, "k", H2, "e3") == Existing("e1", H1)


async def test_keys_are_per_workflow(keys: IdempotencyStore, wf_id: str, workflows: WorkflowStore) -> None:
    other = (await workflows.create({"name": "other", "nodes": []})).id
    assert await keys.claim(wf_id, "k", H1, "e1") == Claimed()
    assert await keys.claim(other, "k", H1, "e2") == Claimed()
    assert await keys.claim(wf_id, "K", H1, "e3") == Claimed()  # keys are case-sensitive


async def test_release_drops_only_its_own_claim(keys: IdempotencyStore, wf_id: str) -> None:
    assert await keys.claim(wf_id, "k", H1, "e1") == Claimed()
    assert await keys.release(wf_id, "k", "e2") is False
    assert await keys.claim(wf_id, "k", H1, "e2") == Existing("e1", H1)
    assert await keys.release(wf_id, "k", "e1") is True
    assert await keys.release(wf_id, "k", "e1") is False
    assert await keys.claim(wf_id, "k", H2, "e3") == Claimed()


async def test_expire_drops_the_old_keys(keys: IdempotencyStore, wf_id: str, clock: FakeClock) -> None:
    await keys.claim(wf_id, "old", H1, "e1")
    clock.advance(3600)
    await keys.claim(wf_id, "new", H1, "e2")
    assert await keys.expire(clock.now() - timedelta(minutes=30)) == 1
    assert await keys.claim(wf_id, "old", H2, "e3") == Claimed()
    assert await keys.claim(wf_id, "new", H2, "e4") == Existing("e2", H1)


async def test_racing_claims_give_one_winner(db_url: str | None, clock: FakeClock, wf_id: str) -> None:
    """Two stores (two processes on SQL, each its own engine) claim the same keys at once."""
    first = await _open(db_url, clock)
    second = first if db_url is None else await _open(db_url, clock)
    try:
        for n in range(10):
            key = f"race-{n}"
            a, b = await asyncio.gather(
                first.claim(wf_id, key, H1, f"a{n}"), second.claim(wf_id, key, H1, f"b{n}")
            )
            assert sorted([type(a).__name__, type(b).__name__]) == ["Claimed", "Existing"]
            loser = a if isinstance(a, Existing) else b
            assert isinstance(loser, Existing)
            assert loser.execution_id == (f"b{n}" if loser is a else f"a{n}")
    finally:
        await first.close()
        if second is not first:
            await second.close()


async def test_a_key_of_an_unknown_workflow(keys: IdempotencyStore, db_url: str | None) -> None:
    """The SQL stores refuse a key of a workflow that does not exist (its keys go with it); the
    memory store knows no workflows and claims it (the API resolves the workflow first)."""
    if db_url is None:
        assert isinstance(await keys.claim("nope", "k", H1, "e1"), Claimed)
        return
    with pytest.raises(NotFound):
        await keys.claim("nope", "k", H1, "e1")


async def test_the_pruner_pass_expires_keys(
    keys: IdempotencyStore, wf_id: str, clock: FakeClock, executions: ExecutionStore
) -> None:
    pruner = Pruner(
        executions, RetentionSettings(), clock=clock, idempotency=keys, idempotency_ttl=timedelta(hours=24)
    )
    await keys.claim(wf_id, "old", H1, "e1")
    clock.advance(23 * 3600)
    await keys.claim(wf_id, "young", H1, "e2")
    await pruner.run_once()
    assert await keys.claim(wf_id, "old", H1, "e3") == Existing("e1", H1)
    clock.advance(3600 + 1)
    await pruner.run_once()
    assert await keys.claim(wf_id, "old", H1, "e4") == Claimed()
    assert await keys.claim(wf_id, "young", H1, "e5") == Existing("e2", H1)


def test_the_ttl_comes_from_the_environment() -> None:
    assert ttl_from_env({}) == timedelta(hours=24)
    assert ttl_from_env({"RELAYFLOW_IDEMPOTENCY_TTL_HOURS": "2"}) == timedelta(hours=2)
    with pytest.raises(InputInvalid):
        ttl_from_env({"RELAYFLOW_IDEMPOTENCY_TTL_HOURS": "0"})
