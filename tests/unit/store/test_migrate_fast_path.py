"""Opening the stores prepares the schema without Alembic when it can: a database at head is left
alone, and a brand-new SQLite database gets ``create_all`` plus the stamp, which must build the
very schema the migrations build (checked here, statement by statement)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from relayflow.store.sql import migrate
from relayflow.store.sql.db import create_engine
from relayflow.store.sql.migrate import alembic_config, chain_head, script_head, upgrade, upgrade_engine

_CONSTRAINTS = ("CONSTRAINT ", "PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK")


def _table(sql: str) -> tuple[str, list[str], list[str]]:
    """A CREATE TABLE as its head, its columns in order and its constraints in any order."""
    head, _, body = sql.partition(" (\n\t")
    elements = body.removesuffix("\n)").split(", \n\t")
    columns = [e for e in elements if not e.startswith(_CONSTRAINTS)]
    return head, columns, sorted(e for e in elements if e.startswith(_CONSTRAINTS))


def schema(path: Path) -> dict[str, Any]:
    """Everything SQLite knows of the schema, plus the stamped revisions."""
    con = sqlite3.connect(path)
    try:
        found: dict[str, Any] = {}
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        for kind, name, table, sql in rows:
            if kind == "table":
                found[f"table {name}"] = _table(sql)
            elif sql is not None:
                found[f"{kind} {name}"] = sql
            else:  # an index SQLite made for a UNIQUE or PRIMARY KEY: numbered in declaration order
                columns = [r[2] for r in con.execute(f"PRAGMA index_info('{name}')")]
                found.setdefault(f"autoindexes {table}", []).append(columns)
        for key in found:
            if key.startswith("autoindexes "):
                found[key].sort()
        found["stamp"] = con.execute("SELECT version_num FROM alembic_version").fetchall()
        return found
    finally:
        con.close()


async def prepare(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_engine(engine)
    finally:
        await engine.dispose()


def test_script_head_is_alembics_head() -> None:
    assert script_head() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_a_fresh_sqlite_database_gets_the_migrated_schema(tmp_path: Path) -> None:
    await prepare(tmp_path / "fast.db")
    await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    fast, migrated = schema(tmp_path / "fast.db"), schema(tmp_path / "migrated.db")
    assert fast["stamp"] == [(script_head(),)]
    assert fast == migrated


async def test_alembic_finds_nothing_to_do_after_the_fast_path(tmp_path: Path) -> None:
    await prepare(tmp_path / "a.db")
    before = schema(tmp_path / "a.db")
    await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert schema(tmp_path / "a.db") == before


async def test_a_database_at_head_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")

    def refuse(connection: Connection) -> None:
        raise AssertionError("Alembic ran on a database at head")

    monkeypatch.setattr(migrate, "alembic_upgrade", refuse)
    monkeypatch.setattr(migrate, "create_schema", refuse)
    await prepare(tmp_path / "a.db")


async def test_an_older_database_is_upgraded_by_alembic(tmp_path: Path) -> None:
    first = ScriptDirectory.from_config(alembic_config()).get_base()
    assert first is not None
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), first))
        await upgrade_engine(engine)
    finally:
        await engine.dispose()
    await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    assert schema(tmp_path / "old.db") == schema(tmp_path / "migrated.db")


async def test_concurrent_starters_on_one_fresh_file_take_turns(tmp_path: Path) -> None:
    await asyncio.gather(*(prepare(tmp_path / "a.db") for _ in range(3)))
    await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    assert schema(tmp_path / "a.db") == schema(tmp_path / "migrated.db")


def test_a_fresh_start_does_not_import_alembic(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from relayflow.store.config import open_stores\n"
        "async def main():\n"
        "    for _ in range(2):\n"
        f"        w, e = await open_stores('sqlite:///{tmp_path / 'a.db'}')\n"
        "        await e.close(); await w.close()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
    assert schema(tmp_path / "a.db")["stamp"] == [(script_head(),)]


def _write(path: Path, revision: str, down: str) -> None:
    path.write_text(
        f'"""A migration."""\n\nrevision = "{revision}"\ndown_revision = {down}\n\n\ndef upgrade(): ...\n'
    )


def test_chain_head_reads_one_plain_chain(tmp_path: Path) -> None:
    _write(tmp_path / "1.py", "a", "None")
    _write(tmp_path / "2.py", "b", '"a"')
    _write(tmp_path / "3.py", "c", '"b"')
    assert chain_head(tmp_path) == "c"


@pytest.mark.parametrize(
    "files",
    [
        [("a", "None"), ("b", '"a"'), ("c", '"a"')],  # a branch: two heads
        [("a", "None"), ("b", '"a"'), ("c", '"a"'), ("d", '("b", "c")')],  # a merge
        [("a", "None"), ("b", '"x"')],  # a parent that is not there
        [("a", "None"), ("b", "some_function()")],  # not a literal
        [],
    ],
)
def test_chain_head_leaves_anything_else_to_alembic(tmp_path: Path, files: list[tuple[str, str]]) -> None:
    for i, (revision, down) in enumerate(files):
        _write(tmp_path / f"{i}.py", revision, down)
    assert chain_head(tmp_path) is None
