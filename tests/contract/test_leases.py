"""LeaseStore contract: memory, SQLite and PostgreSQL agree on one holder per execution, fencing
tokens that only grow, and expired leases going to exactly one sweeper."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from relayflow.cluster.leases_memory import MemoryLeaseStore
from relayflow.cluster.ports import Lease, LeaseStore
from relayflow.engine.memory import FakeClock
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.errors import InputInvalid
from relayflow.store.ports import ExecutionStore
from relayflow.store.sql.leases import lease_is_current, open_leases
from relayflow.store.sql.models import executions as executions_table

TTL = 30.0


async def _open(db_url: str | None, clock: FakeClock) -> LeaseStore:
    return MemoryLeaseStore(clock) if db_url is None else await open_leases(db_url, clock=clock)


@pytest.fixture
async def leases(db_url: str | None, clock: FakeClock) -> AsyncIterator[LeaseStore]:
    store = await _open(db_url, clock)
    yield store
    await store.close()  # type: ignore[attr-defined]


@pytest.fixture
async def other(leases: LeaseStore, db_url: str | None, clock: FakeClock) -> AsyncIterator[LeaseStore]:
    """A second handle: another engine (another process, as far as the database can tell)."""
    if db_url is None:
        yield leases
        return
    store = await _open(db_url, clock)
    yield store
    await store.close()  # type: ignore[attr-defined]


def _id() -> str:
    return str(uuid.uuid4())


async def _held(leases: LeaseStore, execution_id: str, holder: str = "w1") -> Lease:
    lease = await leases.acquire(execution_id, holder, ttl_s=TTL)
    assert lease is not None
    return lease


async def test_one_holder_at_a_time(leases: LeaseStore, clock: FakeClock) -> None:
    ex = _id()
    lease = await _held(leases, ex)
    assert lease.holder == "w1" and lease.token == 1 and lease.execution_id == ex
    assert lease.expires_at == clock.now() + timedelta(seconds=TTL)
    assert await leases.acquire(ex, "w2", ttl_s=TTL) is None
    # a live lease is not taken again, not even by its holder
    assert await leases.acquire(ex, "w1", ttl_s=TTL) is None
    # another execution is another lease
    assert (await _held(leases, _id(), "w2")).token == 1


async def test_concurrent_acquisitions_have_one_winner(leases: LeaseStore, other: LeaseStore) -> None:
    ex = _id()
    tries = [s.acquire(ex, f"w{i}-{n}", ttl_s=TTL) for n, s in enumerate((leases, other)) for i in range(6)]
    won = [lease for lease in await asyncio.gather(*tries) if lease is not None]
    assert len(won) == 1 and won[0].token == 1


async def test_tokens_strictly_increase(leases: LeaseStore, clock: FakeClock) -> None:
    ex = _id()
    tokens = []
    lease = await _held(leases, ex)
    tokens.append(lease.token)
    await leases.release(lease)  # released
    lease = await _held(leases, ex, "w2")
    tokens.append(lease.token)
    clock.advance(TTL + 1)  # expired, taken over
    lease = await _held(leases, ex, "w3")
    tokens.append(lease.token)
    clock.advance(TTL + 1)  # expired, swept, taken again
    assert [e.execution_id for e in await leases.expired()] == [ex]
    lease = await _held(leases, ex, "w4")
    tokens.append(lease.token)
    assert tokens == sorted(set(tokens)) and len(tokens) == 4


async def test_heartbeat_extends(leases: LeaseStore, clock: FakeClock) -> None:
    ex = _id()
    lease = await _held(leases, ex)
    clock.advance(TTL - 5)
    beat = await leases.heartbeat(lease, ttl_s=TTL)
    assert beat is not None and beat.token == lease.token and beat.expires_at > lease.expires_at
    clock.advance(TTL - 5)  # past the first expiry, within the extended one
    assert await leases.acquire(ex, "w2", ttl_s=TTL) is None
    assert await leases.expired() == []
    assert await leases.check(ex, lease.token)


async def test_a_lost_lease_does_not_heartbeat(leases: LeaseStore, clock: FakeClock) -> None:
    taken, swept = _id(), _id()
    first = await _held(leases, taken)
    gone = await _held(leases, swept)
    clock.advance(TTL + 1)
    second = await _held(leases, taken, "w2")  # expired and taken
    assert second.token == first.token + 1
    assert [e.execution_id for e in await leases.expired()] == [swept]  # expired and swept
    assert await leases.heartbeat(first, ttl_s=TTL) is None
    assert await leases.heartbeat(gone, ttl_s=TTL) is None
    assert await leases.heartbeat(second, ttl_s=TTL) is not None


async def test_a_late_heartbeat_keeps_a_lease_nobody_took(leases: LeaseStore, clock: FakeClock) -> None:
    ex = _id()
    lease = await _held(leases, ex)
    clock.advance(TTL + 1)
    assert await leases.heartbeat(lease, ttl_s=TTL) is not None
    assert await leases.acquire(ex, "w2", ttl_s=TTL) is None


async def test_release_makes_it_acquirable_at_once(leases: LeaseStore, clock: FakeClock) -> None:
    ex = _id()
    lease = await _held(leases, ex)
    await leases.release(lease)
    assert not await leases.check(ex, lease.token)
    again = await _held(leases, ex, "w2")
    assert again.token == lease.token + 1
    # a release is no crash; releasing a lease one no longer holds changes nothing
    await leases.release(lease)
    assert await leases.acquire(ex, "w3", ttl_s=TTL) is None
    clock.advance(TTL + 1)
    assert [(e.holder, e.token, e.crashes) for e in await leases.expired()] == [("w2", again.token, 1)]


async def test_expired_leases_go_to_exactly_one_sweeper(
    leases: LeaseStore, other: LeaseStore, clock: FakeClock
) -> None:
    ids = {_id() for _ in range(40)}
    for ex in ids:
        await _held(leases, ex)
    live = await _held(leases, _id())
    clock.advance(TTL + 1)
    await leases.heartbeat(live, ttl_s=TTL)

    async def sweep(store: LeaseStore) -> list[str]:
        got: list[str] = []
        while batch := await store.expired(limit=7):
            got += [e.execution_id for e in batch]
        return got

    first, second = await asyncio.gather(sweep(leases), sweep(other))
    assert sorted(first + second) == sorted(ids)  # every one swept, none twice
    assert await leases.expired() == [] and await other.expired() == []


async def test_expired_is_oldest_first_and_limited(leases: LeaseStore, clock: FakeClock) -> None:
    ids = [_id() for _ in range(3)]
    for ex in ids:
        await _held(leases, ex)
        clock.advance(1)
    clock.advance(TTL)
    swept = await leases.expired(limit=2)
    assert [e.execution_id for e in swept] == ids[:2]
    assert [(e.holder, e.token, e.crashes) for e in swept] == [("w1", 1, 1)] * 2
    assert [e.execution_id for e in await leases.expired()] == ids[2:]


async def test_crashes_are_counted(leases: LeaseStore, clock: FakeClock) -> None:
    ex = _id()
    await _held(leases, ex)
    clock.advance(TTL + 1)
    assert [e.crashes for e in await leases.expired()] == [1]
    await _held(leases, ex, "w2")
    clock.advance(TTL + 1)
    # taken over without a sweep: that holder's death counts too
    await _held(leases, ex, "w3")
    clock.advance(TTL + 1)
    swept = await leases.expired()
    assert [(e.holder, e.token, e.crashes) for e in swept] == [("w3", 3, 3)]


async def test_a_stale_token_fails_the_check(leases: LeaseStore, clock: FakeClock) -> None:
    """F3: a worker stopped past its lease comes back; its token no longer passes."""
    ex = _id()
    stale = await _held(leases, ex)
    assert await leases.check(ex, stale.token)
    clock.advance(TTL + 1)
    await leases.expired()  # the sweeper requeues the execution
    assert not await leases.check(ex, stale.token)  # swept: no more writes, even before a new holder
    fresh = await _held(leases, ex, "w2")
    assert not await leases.check(ex, stale.token)
    assert await leases.check(ex, fresh.token)
    # the stale worker's heartbeat and release do not disturb the new holder
    assert await leases.heartbeat(stale, ttl_s=TTL) is None
    await leases.release(stale)
    assert await leases.check(ex, fresh.token)
    assert not await leases.check(_id(), 1)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def test_a_fenced_write_fails_for_a_stale_token(
    leases: LeaseStore, executions: ExecutionStore, clock: FakeClock
) -> None:
    """The condition the lead's fenced writes embed: a stale worker's UPDATE changes no row."""
    ex = _id()
    await executions.execution_started(
        ExecutionRecord(ex, None, "wf", "webhook", ExecutionStatus.RUNNING, datetime(2024, 1, 1, tzinfo=UTC))
    )
    stale = await _held(leases, ex)
    clock.advance(TTL + 1)
    fresh = await _held(leases, ex, "w2")
    db = leases._db  # type: ignore[attr-defined]

    async def finish(token: int, status: str) -> int:
        stmt = (
            update(executions_table)
            .where(executions_table.c.id == ex, lease_is_current(ex, token))
            .values(status=status)
        )
        async with db.write() as conn:
            return int((await conn.execute(stmt)).rowcount)

    assert await finish(stale.token, "failed") == 0
    assert await finish(fresh.token, "succeeded") == 1
    record = await executions.get(ex)
    assert record is not None and record.status == ExecutionStatus.SUCCEEDED


async def test_a_ttl_must_be_positive(leases: LeaseStore) -> None:
    ex = _id()
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputInvalid):
            await leases.acquire(ex, "w1", ttl_s=bad)
    lease = await _held(leases, ex)
    with pytest.raises(InputInvalid):
        await leases.heartbeat(lease, ttl_s=0)
