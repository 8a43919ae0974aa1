"""Execution leases in memory: the single-process ``LeaseStore`` (tests, embedded mode). It keeps
the SQL store's rules (relayflow/store/sql/leases.py) exactly; each method runs without an await,
so on one event loop each is atomic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from relayflow.cluster.ports import ExpiredLease, Lease
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import InputInvalid
from relayflow.store.common import check_limit


def check_ttl(ttl_s: float) -> None:
    if not ttl_s > 0:  # NaN included
        raise InputInvalid(f"a lease's ttl_s must be more than 0, not {ttl_s}")


@dataclass
class _Row:
    holder: str | None
    token: int
    expires_at: datetime
    crashes: int = 0
    swept_token: int | None = None


class MemoryLeaseStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        # kept after release: the next acquisition's token must be larger
        self._rows: dict[str, _Row] = {}

    async def acquire(self, execution_id: str, holder: str, *, ttl_s: float) -> Lease | None:
        check_ttl(ttl_s)
        now = self._clock.now()
        expires = now + timedelta(seconds=ttl_s)
        row = self._rows.get(execution_id)
        if row is None:
            self._rows[execution_id] = _Row(holder, 1, expires)
            return Lease(execution_id, holder, 1, expires)
        if row.holder is not None and row.expires_at > now:
            return None
        if row.holder is not None:  # it expired and nobody swept it: its holder died
            row.crashes += 1
        row.holder, row.token, row.expires_at = holder, row.token + 1, expires
        return Lease(execution_id, holder, row.token, expires)

    def _held(self, lease: Lease) -> _Row | None:
        row = self._rows.get(lease.execution_id)
        if row is None or row.token != lease.token or row.holder != lease.holder:
            return None
        return row

    async def heartbeat(self, lease: Lease, *, ttl_s: float) -> Lease | None:
        check_ttl(ttl_s)
        row = self._held(lease)
        if row is None:
            return None
        row.expires_at = self._clock.now() + timedelta(seconds=ttl_s)
        return Lease(lease.execution_id, lease.holder, lease.token, row.expires_at)

    async def release(self, lease: Lease) -> None:
        row = self._held(lease)
        if row is not None:
            row.holder, row.expires_at = None, self._clock.now()

    async def expired(self, *, limit: int = 100) -> list[ExpiredLease]:
        now = self._clock.now()
        due = sorted(
            (
                (row.expires_at, execution_id, row)
                for execution_id, row in self._rows.items()
                if row.holder is not None and row.expires_at <= now
            ),
            key=lambda entry: (entry[0], entry[1]),
        )[: check_limit(limit)]
        swept = []
        for _at, execution_id, row in due:
            assert row.holder is not None
            swept.append(ExpiredLease(execution_id, row.holder, row.token, row.crashes + 1))
            row.holder, row.crashes, row.swept_token = None, row.crashes + 1, row.token
        return swept

    async def check(self, execution_id: str, token: int) -> bool:
        row = self._rows.get(execution_id)
        return row is not None and row.token == token and row.holder is not None

    async def close(self) -> None:
        pass
