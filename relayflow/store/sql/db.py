"""One database handle shared by the SQL stores: the async engine, SQLite's pragmas, and the
write discipline.

Hot writes go through ``run_write(fn)``, ``fn`` being a function of a sync ``Connection``. On a
SQLite file they are group-committed (group_commit.py): one thread and connection run every write
queued meanwhile in one transaction, in call order, so concurrent executions share a commit. On
PostgreSQL (and in-memory SQLite) each is a transaction of its own. ``write()`` yields an async
connection for the other writes; on a SQLite file it takes its turn in the same order, so SQLite
keeps one writer per process (WAL allows readers alongside it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Insert, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from relayflow.store.sql.group_commit import GroupCommitter
from relayflow.store.sql.types import dumps, loads

SQLITE_BUSY_TIMEOUT_MS = 30_000

T = TypeVar("T")


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, json_serializer=dumps, json_deserializer=loads, connect_args={"timeout": 30}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, json_serializer=dumps, json_deserializer=loads, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Database:
    """The engine plus the write discipline; closed when the last store using it closes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock()
        self._users = 0
        # built once: a reused statement also keeps its compiled form's cache key
        self._statements: dict[tuple[Any, ...], Insert] = {}
        database = engine.url.database
        self._committer = (
            GroupCommitter(engine.url, on_connect=_sqlite_pragmas)
            if self.dialect == "sqlite" and database and database != ":memory:"
            else None
        )

    @property
    def ordered_writes(self) -> bool:
        """Whether writes commit in the order they were asked for (``run_write`` and ``write``)."""
        return self._committer is not None

    def acquire(self) -> Database:
        self._users += 1
        return self

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            if self._committer is not None:
                await self._committer.close()
            await self.engine.dispose()

    async def run_write(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` in a write transaction, returned once committed (see the module docstring).
        ``fn`` may run twice (after a rollback caused by another write): it only touches the
        database. Never call it inside ``write()``: that would wait for itself."""
        if self._committer is not None:
            return await self._committer.run(fn)
        async with self.write() as conn:
            return await conn.run_sync(fn)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes; on SQLite the process's writers take turns."""
        if self._committer is not None:
            async with self._committer.exclusive(), self.engine.begin() as conn:
                yield conn
            return
        lock = self._write_lock if self.dialect == "sqlite" else contextlib.nullcontext()
        async with lock, self.engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    def insert_ignoring(self, table: Table, keys: Sequence[str]) -> Insert:
        """INSERT that skips rows whose ``keys`` already exist (both dialects spell it alike)."""
        memo = ("ignoring", table.name, tuple(keys))
        if (stmt := self._statements.get(memo)) is None:
            dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            stmt = self._statements[memo] = dialect_insert(table).on_conflict_do_nothing(
                index_elements=list(keys)
            )
        return stmt

    def upsert(self, table: Table, keys: Sequence[str], columns: Sequence[str]) -> Insert:
        """INSERT, or UPDATE ``columns`` of the row whose ``keys`` exist."""
        memo = ("upsert", table.name, tuple(keys), tuple(columns))
        if (stmt := self._statements.get(memo)) is None:
            stmt = self._statements[memo] = self._upsert(table, keys, columns)
        return stmt

    def _upsert(self, table: Table, keys: Sequence[str], columns: Sequence[str]) -> Insert:
        if self.dialect == "postgresql":
            pg = postgresql.insert(table)
            return pg.on_conflict_do_update(
                index_elements=list(keys), set_={c: pg.excluded[c] for c in columns}
            )
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=list(keys), set_={c: lite.excluded[c] for c in columns}
        )
