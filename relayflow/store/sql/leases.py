"""Execution leases on SQL (``LeaseStore`` of relayflow/cluster/ports.py): one row per execution in
``execution_leases``, kept after release so that its fencing token only ever grows.

Every change is one conditional statement, so the database decides between racing processes:

- ``acquire``: ``UPDATE ... SET token = token + 1 WHERE holder IS NULL OR expires_at <= now``
  (RETURNING the new token), or for an execution never leased an INSERT ... ON CONFLICT DO
  NOTHING (token 1). Taking over an expired lease nobody swept counts its holder's crash.
- ``heartbeat`` / ``release``: ``WHERE token = :token AND holder = :holder``. Release and sweep
  set ``holder`` to NULL, so a lost lease is never extended again.
- ``expired``: the sweeper's UPDATE of expired rows (``holder`` NULL, ``crashes + 1``,
  ``swept_token = token``) returns only the rows it changed; on PostgreSQL a concurrent sweeper
  blocks on the row lock, re-reads the row and finds it swept (and ``SKIP LOCKED`` makes it pick
  other rows instead), on SQLite writers take turns. Each expired lease goes to one sweeper.
- ``check`` and ``lease_is_current`` (for fenced writes inside other statements): the token is
  the newest and its lease was neither released nor swept.

Time comes from the ``Clock`` (the other stores do the same): the processes' clocks must agree to
well within a lease's TTL (NTP).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import ColumnElement, Connection, case, exists, select, tuple_, update

from relayflow.cluster.leases_memory import check_ttl
from relayflow.cluster.ports import ExpiredLease, Lease
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.store.common import check_limit, utc
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.migrate import upgrade_engine
from relayflow.store.sql.models import execution_leases

_C = execution_leases.c


def lease_is_current(execution_id: str, token: int) -> ColumnElement[bool]:
    """The fencing condition, for a write guarded by a lease: ``stmt.where(lease_is_current(...))``
    affects no row once a newer token exists or the lease was released or swept."""
    return exists().where(_C.execution_id == execution_id, _C.token == token, _C.holder.is_not(None))


class SqlLeaseStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    async def acquire(self, execution_id: str, holder: str, *, ttl_s: float) -> Lease | None:
        check_ttl(ttl_s)
        now = utc(self._clock.now())
        expires = now + timedelta(seconds=ttl_s)
        token = await self._db.run_write(partial(self._acquire, execution_id, holder, now, expires))
        return None if token is None else Lease(execution_id, holder, token, expires)

    def _acquire(
        self, execution_id: str, holder: str, now: datetime, expires: datetime, conn: Connection
    ) -> int | None:
        take = (
            update(execution_leases)
            .where(_C.execution_id == execution_id, (_C.holder.is_(None)) | (_C.expires_at <= now))
            .values(
                holder=holder,
                token=_C.token + 1,
                expires_at=expires,
                # a holder still named here died without anyone sweeping its lease
                crashes=_C.crashes + case((_C.holder.is_(None), 0), else_=1),
            )
            .returning(_C.token)
        )
        token = conn.execute(take).scalar()
        if token is not None:
            return int(token)
        first = (
            self._db.insert_ignoring(execution_leases, ["execution_id"])
            .values(execution_id=execution_id, holder=holder, token=1, expires_at=expires, crashes=0)
            .returning(_C.token)
        )
        token = conn.execute(first).scalar()
        return None if token is None else int(token)

    async def heartbeat(self, lease: Lease, *, ttl_s: float) -> Lease | None:
        check_ttl(ttl_s)
        expires = utc(self._clock.now()) + timedelta(seconds=ttl_s)
        stmt = update(execution_leases).where(*_held(lease)).values(expires_at=expires).returning(_C.token)
        found = await self._db.run_write(lambda conn: conn.execute(stmt).scalar())
        return None if found is None else Lease(lease.execution_id, lease.holder, lease.token, expires)

    async def release(self, lease: Lease) -> None:
        stmt = (
            update(execution_leases)
            .where(*_held(lease))
            .values(holder=None, expires_at=utc(self._clock.now()))
        )
        await self._db.run_write(lambda conn: conn.execute(stmt).rowcount)

    async def expired(self, *, limit: int = 100) -> list[ExpiredLease]:
        return await self._db.run_write(partial(_sweep, utc(self._clock.now()), check_limit(limit)))

    async def check(self, execution_id: str, token: int) -> bool:
        async with self._db.read() as conn:
            return bool((await conn.execute(select(lease_is_current(execution_id, token)))).scalar())

    async def close(self) -> None:
        await self._db.release()


def _held(lease: Lease) -> tuple[ColumnElement[bool], ...]:
    return (
        _C.execution_id == lease.execution_id,
        _C.token == lease.token,
        _C.holder == lease.holder,
    )


def _sweep(now: datetime, limit: int, conn: Connection) -> list[ExpiredLease]:
    """Take back up to ``limit`` expired leases; only the rows this transaction changed count."""
    due = (
        select(_C.execution_id, _C.holder, _C.token)
        .where(_C.holder.is_not(None), _C.expires_at <= now)
        .order_by(_C.expires_at, _C.execution_id)
        .limit(limit)
        # PostgreSQL: rows another sweeper is taking are skipped, not waited for (SQLite: ignored)
        .with_for_update(skip_locked=True)
    )
    found = conn.execute(due).all()
    if not found:
        return []
    holders = {(r.execution_id, r.token): r.holder for r in found}
    stmt = (
        update(execution_leases)
        .where(
            tuple_(_C.execution_id, _C.token).in_(list(holders)),
            _C.holder.is_not(None),
            _C.expires_at <= now,
        )
        .values(holder=None, crashes=_C.crashes + 1, swept_token=_C.token)
        .returning(_C.execution_id, _C.token, _C.crashes, _C.expires_at)
    )
    swept = sorted(conn.execute(stmt).all(), key=lambda r: (r.expires_at, r.execution_id))
    return [
        ExpiredLease(r.execution_id, holders[(r.execution_id, r.token)], r.token, r.crashes) for r in swept
    ]


async def open_leases(url: str, *, clock: Clock | None = None) -> SqlLeaseStore:
    """The store on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlLeaseStore(Database(engine), clock)
