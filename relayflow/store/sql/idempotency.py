"""Webhook idempotency keys on SQL, in ``webhook_idempotency``: its primary key (workflow_id, key)
decides who holds a key (see store/idempotency.py).

``claim`` is one transaction: INSERT ... ON CONFLICT DO NOTHING, then SELECT the row. The insert
that wins affects one row; a racing one affects none (on PostgreSQL it waits for the winner's
transaction, then skips) and the SELECT, a statement of its own under READ COMMITTED (SQLite:
one writer at a time), reads the winner's row. The foreign key to ``workflows`` (ON DELETE
CASCADE) drops a deleted workflow's keys with it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import NotFound
from relayflow.store.idempotency import Claimed, Existing
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.migrate import upgrade_engine
from relayflow.store.sql.models import webhook_idempotency

_KEYS = ("workflow_id", "key")
_c = webhook_idempotency.c


class SqlIdempotencyStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    async def claim(
        self, workflow_id: str, key: str, body_hash: str, execution_id: str
    ) -> Claimed | Existing:
        row = {
            "workflow_id": workflow_id,
            "key": key,
            "body_sha256": body_hash,
            "execution_id": execution_id,
            "created_at": self._clock.now(),
        }
        held = select(_c.execution_id, _c.body_sha256).where(_c.workflow_id == workflow_id, _c.key == key)
        try:
            async with self._db.write() as conn:
                inserted = await conn.execute(
                    self._db.insert_ignoring(webhook_idempotency, _KEYS).values(**row)
                )
                if inserted.rowcount == 1:
                    return Claimed()
                found = (await conn.execute(held)).one()
        except IntegrityError as exc:  # the foreign key: no such workflow (deleted meanwhile)
            raise NotFound(f"no workflow {workflow_id!r}") from exc
        return Existing(found.execution_id, found.body_sha256)

    async def release(self, workflow_id: str, key: str, execution_id: str) -> bool:
        stmt = delete(webhook_idempotency).where(
            _c.workflow_id == workflow_id, _c.key == key, _c.execution_id == execution_id
        )
        async with self._db.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def expire(self, before: datetime) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(webhook_idempotency).where(_c.created_at < before))
        return int(result.rowcount or 0)

    async def close(self) -> None:
        await self._db.release()


async def open_idempotency_store(url: str, *, clock: Clock | None = None) -> SqlIdempotencyStore:
    """The store on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlIdempotencyStore(Database(engine), clock)
