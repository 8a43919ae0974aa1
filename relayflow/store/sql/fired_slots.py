"""Fired schedule slots on SQL: the ``fired_slots`` primary key (workflow_id, node, slot) decides
who fires a slot. ``claim`` inserts with ON CONFLICT DO NOTHING (SQLite and PostgreSQL spell it
alike), so the first insert wins and every later one affects no row. ``claim_many`` inserts a batch
(SQLAlchemy's "insertmanyvalues": many rows per statement) and reads the winners back with
RETURNING (SQLite >= 3.35)."""

from __future__ import annotations

from collections.abc import Sequence
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
# rows per INSERT: 4 parameters each, well under SQLite's 32,766 and PostgreSQL's 65,535
_CHUNK = 500
Slot = tuple[str, str, datetime]


class SqlFiredSlotStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    async def claim(self, workflow_id: str, node: str, slot_key: str, fire_at: datetime) -> bool:
        stmt = self._db.insert_ignoring(fired_slots, _KEYS).values(**self._row((workflow_id, node, fire_at)))
        try:
            async with self._db.write() as conn:
                result = await conn.execute(stmt)
        except IntegrityError:
            return False  # the workflow was deleted (foreign key): nothing to fire
        return bool(result.rowcount == 1)

    async def claim_many(self, slots: Sequence[Slot]) -> list[bool]:
        keys = [_key(*s) for s in slots]
        won: set[Slot] = set()
        # in key order: two schedulers inserting overlapping batches then take the unique
        # index's row locks in the same order, so PostgreSQL never sees them deadlock
        unique = sorted(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            won |= await self._claim_chunk(unique[start : start + _CHUNK])
        answers = []
        for key in keys:  # a slot asked twice is won once, by its first mention
            answers.append(key in won)
            won.discard(key)
        return answers

    async def _claim_chunk(self, chunk: list[Slot]) -> set[Slot]:
        cols = fired_slots.c
        stmt = self._db.insert_ignoring(fired_slots, _KEYS).returning(cols.workflow_id, cols.node, cols.slot)
        try:
            async with self._db.write() as conn:
                rows = (await conn.execute(stmt, [self._row(s) for s in chunk])).all()
        except IntegrityError:
            # a workflow of the chunk was deleted (foreign key): claim its slots one by one
            return {s for s in chunk if await self.claim(s[0], s[1], "", s[2])}
        return {_key(row.workflow_id, row.node, row.slot) for row in rows}

    def _row(self, slot: Slot) -> dict[str, object]:
        workflow_id, node, at = _key(*slot)
        return {"workflow_id": workflow_id, "node": node, "slot": at, "fired_at": utc(self._clock.now())}

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


def _key(workflow_id: str, node: str, at: datetime) -> Slot:
    """(workflow, node, slot time in UTC on the whole second): the primary key's values."""
    return workflow_id, node, utc(at).replace(microsecond=0)


async def open_fired_slots(url: str, *, clock: Clock | None = None) -> SqlFiredSlotStore:
    """The store on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlFiredSlotStore(Database(engine), clock)
