"""Webhook registrations on SQL, in the ``webhooks`` table: its unique constraint on (method, path)
decides who holds a route key (``path`` stores the key, see store/webhook_registry.py).

``register`` deletes the workflow's rows and inserts the new ones in one transaction; an insert
that hits another workflow's row fails on the constraint (on PostgreSQL a racing insert waits
for the first transaction and fails once it commits), the transaction rolls back, and the holder
is read back to name it in the Conflict. Rows are inserted in key order, so two transactions
wait on each other in one order only (no deadlock). The foreign key to ``workflows`` (ON DELETE CASCADE)
drops a deleted workflow's rows with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.exc import IntegrityError

from relayflow.errors import NotFound, RelayflowError
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.migrate import upgrade_engine
from relayflow.store.sql.models import webhooks, workflows
from relayflow.store.webhook_registry import WebhookEntry, conflict, entries

_COLUMNS = (webhooks.c.path, webhooks.c.method, webhooks.c.workflow_id, webhooks.c.node)


class SqlWebhookRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db.acquire()

    async def register(self, workflow_id: str, routes: Iterable[tuple[str, str, str]]) -> list[WebhookEntry]:
        new = entries(workflow_id, routes)
        rows = [{"method": e.method, "path": e.path, "workflow_id": workflow_id, "node": e.node} for e in new]
        try:
            async with self._db.write() as conn:
                await conn.execute(delete(webhooks).where(webhooks.c.workflow_id == workflow_id))
                if rows:
                    await conn.execute(insert(webhooks), rows)
        except IntegrityError as exc:
            raise await self._explain(workflow_id, new) from exc
        return list(new)

    async def _explain(self, workflow_id: str, new: dict[WebhookEntry, str]) -> RelayflowError:
        """Why the insert failed: another workflow's route, or (foreign key) no such workflow."""
        keys = [(e.method, e.path) for e in new]
        stmt = select(*_COLUMNS).where(
            tuple_(webhooks.c.method, webhooks.c.path).in_(keys), webhooks.c.workflow_id != workflow_id
        )
        async with self._db.read() as conn:
            held = {(r.method, r.path): WebhookEntry(*r) for r in (await conn.execute(stmt)).all()}
            known = await conn.scalar(select(workflows.c.id).where(workflows.c.id == workflow_id))
        for e, written in new.items():
            if (e.method, e.path) in held:
                return conflict(e, written, held[(e.method, e.path)])
        if known is None:
            return NotFound(f"no workflow {workflow_id!r}")
        first, written = next(iter(new.items()))
        return conflict(first, written, None)

    async def unregister(self, workflow_id: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(webhooks).where(webhooks.c.workflow_id == workflow_id))
        return int(result.rowcount or 0)

    async def all(self) -> list[WebhookEntry]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(*_COLUMNS))).all()
        # sorted here: the databases' collations order text differently
        return sorted(WebhookEntry(*r) for r in rows)

    async def close(self) -> None:
        await self._db.release()


async def open_webhook_registry(url: str) -> SqlWebhookRegistry:
    """The registry on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlWebhookRegistry(Database(engine))
