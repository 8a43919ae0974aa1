"""Bringing a database to the newest schema, in-process and without alembic.ini.

``await upgrade_engine(engine)`` is what opening the stores does, and it is cheap when it can be:

- a database already at the head revision: one query, Alembic is not even imported;
- a brand-new SQLite database: ``metadata.create_all`` plus the head stamp, in one
  ``BEGIN IMMEDIATE`` transaction; a test proves it builds the very schema the migrations build;
- anything else (an older database, PostgreSQL's first start): Alembic's upgrade.

``await upgrade(url)`` always runs Alembic's upgrade. Idempotent. On PostgreSQL an advisory lock
makes concurrent starters take turns; on SQLite the write transaction does the same.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from relayflow.store.sql.db import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# any constant; "rflow" in ASCII
_PG_LOCK_KEY = 0x72666C6F77

# Alembic's own version table, as alembic.ddl.impl.DefaultImpl.version_table_impl defines it
VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def script_head() -> str | None:
    """The newest revision of relayflow's migrations, read without Alembic (see ``chain_head``)."""
    return chain_head(MIGRATIONS / "versions")


def chain_head(versions: Path) -> str | None:
    """The last revision of the migration files in ``versions``, read from their ``revision`` and
    ``down_revision`` lines.

    None unless the files form one plain chain (a merge, a branch or an unreadable file): then
    only Alembic can tell, and the caller asks it.
    """
    parents: dict[str, str | None] = {}
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        parents[revision] = down
    heads = set(parents) - set(parents.values())
    roots = [r for r, down in parents.items() if down is None]
    if len(heads) != 1 or len(roots) != 1 or len(set(parents.values())) != len(parents):
        return None
    return heads.pop()


def _stored_revisions(connection: Connection) -> list[str] | None:
    """The revisions stamped in the database; None when it has no version table."""
    if not inspect(connection).has_table(VERSION_TABLE.name):
        return None
    return list(connection.execute(VERSION_TABLE.select()).scalars())


def _at_head(connection: Connection) -> bool:
    head = script_head()
    return head is not None and _stored_revisions(connection) == [head]


def _is_empty(connection: Connection) -> bool:
    return not inspect(connection).get_table_names()


def create_schema(connection: Connection) -> None:
    """The models' tables plus the head stamp, on an empty database (what the migrations build)."""
    from relayflow.store.sql.models import metadata

    head = script_head()
    if head is None:
        raise RuntimeError("the migration files do not form one chain: run Alembic's upgrade")
    metadata.create_all(connection)
    VERSION_TABLE.create(connection)
    connection.execute(VERSION_TABLE.insert().values(version_num=head))


def alembic_upgrade(connection: Connection) -> None:
    """Alembic's ``upgrade head`` on ``connection`` (PostgreSQL: under the advisory lock)."""
    from alembic import command

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")


_LOCKED_RETRIES = 5


def _prepare(connection: Connection) -> None:
    if _at_head(connection):
        return
    if connection.dialect.name == "sqlite" and script_head() is not None and _is_empty(connection):
        # takes the write lock first, so a second starter waits, then finds the schema at head
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        if _is_empty(connection):
            create_schema(connection)
            return
        if _at_head(connection):
            return
    alembic_upgrade(connection)


async def upgrade_engine(engine: AsyncEngine) -> None:
    """Bring the database behind ``engine`` to the head revision, the cheapest way that is safe.

    On SQLite a starter racing others on a fresh file can be told "database is locked" at once
    (seen about once in 100 races on a loaded machine: a lock SQLite does not wait for); the
    preparation is one transaction and idempotent, so it is tried again, and then finds the
    schema the winner built."""
    from sqlalchemy.exc import OperationalError

    for attempt in range(_LOCKED_RETRIES + 1):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_prepare)
            return
        except OperationalError as exc:
            if engine.dialect.name != "sqlite" or "locked" not in str(exc) or attempt == _LOCKED_RETRIES:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


async def upgrade(url: str) -> None:
    """Alembic's upgrade to head on ``url``, whatever the database holds."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(alembic_upgrade)
    finally:
        await engine.dispose()
