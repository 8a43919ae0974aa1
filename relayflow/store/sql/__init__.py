"""The SQLAlchemy implementation of the store ports, on SQLite (aiosqlite) or PostgreSQL (asyncpg).

Invariants: the schema is what the migrations build, and it equals ``models.metadata`` (a test
checks it on both databases); every datetime is stored in UTC and read back aware; a workflow's
stored ``data`` always carries the row's id, name, active flag and versionId.
"""

from __future__ import annotations

from relayflow.engine.ports import Clock
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.executions import SqlExecutionStore
from relayflow.store.sql.migrate import upgrade, upgrade_engine
from relayflow.store.sql.workflows import SqlWorkflowStore

__all__ = ["Database", "SqlExecutionStore", "SqlWorkflowStore", "open_sql_stores", "upgrade"]


async def open_sql_stores(
    url: str, *, clock: Clock | None = None
) -> tuple[SqlWorkflowStore, SqlExecutionStore]:
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    db = Database(engine)
    return SqlWorkflowStore(db, clock), SqlExecutionStore(db)
