"""Fired schedule slots on SQL: the ``fired_slots`` primary key (workflow_id, node, slot) decides
who fires a slot. ``claim`` inserts with ON CONFLICT DO NOTHING (SQLite and PostgreSQL spell it
alike), so the first insert wins and every later one affects no row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.store.common import utc
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.migrate import upgrade_engine
from relayflow.store.sql.models import fired_slots

_KEYS = ("workflow_id", "node", "slot")


class SqlFiredSlotStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    async def claim(self, workflow_id: str, node: str, slot_key: str, fire_at: datetime) -> bool:
        row = {
            "workflow_id": workflow_id,
            "node": node,
            "slot": utc(fire_at).replace(microsecond=0),
            "fired_at": utc(self._clock.now()),
        }
        stmt = self._db.insert_ignoring(fired_slots, _KEYS).values(**row)
        try:
            async with self._db.write() as conn:
                result = await conn.execute(stmt)
        except IntegrityError:
            return False  # the workflow was deleted (foreign key): nothing to fire
        return bool(result.rowcount == 1)

    async def last_fired(self, workflow_id: str, node: str) -> datetime | None:
        stmt = select(func.max(fired_slots.c.slot)).where(
            fired_slots.c.workflow_id == workflow_id, fired_slots.c.node == node
        )
        async with self._db.read() as conn:
            found = (await conn.execute(stmt)).scalar()
        if found is None:
            return None
        # max() on SQLite loses the column type: it comes back as text
        value = datetime.fromisoformat(found) if isinstance(found, str) else found
        return utc(value)

    async def close(self) -> None:
        await self._db.release()


async def open_fired_slots(url: str, *, clock: Clock | None = None) -> SqlFiredSlotStore:
    """The store on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlFiredSlotStore(Database(engine), clock)
