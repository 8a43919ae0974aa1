"""The migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from relayflow.store.sql.db import create_engine
from relayflow.store.sql.migrate import MIGRATIONS, alembic_config, upgrade
from relayflow.store.sql.models import metadata


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_equals_the_models(sql_url: str) -> None:
    await upgrade(sql_url)
    # a second run finds nothing to do
    await upgrade(sql_url)
    engine = create_engine(sql_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == head
    finally:
        await engine.dispose()


async def test_sqlite_pragmas(tmp_path: object) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/db/relayflow.db")
    try:
        async with engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    # synchronous=1 is NORMAL
    assert values == ["wal", 1, 1, 30000]


def test_migrations_ship_with_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))
