"""The SQLite group committer: order, durability before the answer, batching, error isolation."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.group_commit import GroupCommitter


def _no_pragmas(_dbapi_connection: Any, _record: Any) -> None:
    pass


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "gc.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, txn TEXT)")
    return path


@pytest.fixture
async def committer(db_file: Path) -> Any:
    gc = GroupCommitter(make_url(f"sqlite+aiosqlite:///{db_file}"), on_connect=_no_pragmas)
    yield gc
    await gc.close()


def stored(db_file: Path) -> list[tuple[int, str]]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(db_file) as conn:
        return list(conn.execute("SELECT n, txn FROM t ORDER BY rowid"))


# kept alive, so that no two transactions share an id()
TRANSACTIONS: list[Any] = []


def insert(n: int, fail: bool = False) -> Any:
    def write(conn: Connection) -> int:
        TRANSACTIONS.append(conn.get_transaction())
        txn = str(id(TRANSACTIONS[-1]))
        conn.execute(text("INSERT INTO t (n, txn) VALUES (:n, :txn)"), {"n": n, "txn": txn})
        if fail:
            raise ValueError(f"write {n} is bad")
        return n * 10

    return write


async def test_a_write_is_committed_before_its_caller_hears_back(
    committer: GroupCommitter, db_file: Path
) -> None:
    assert await committer.run(insert(1)) == 10
    assert [n for n, _ in stored(db_file)] == [1]


async def test_writes_queued_meanwhile_share_one_transaction_in_call_order(
    committer: GroupCommitter, db_file: Path
) -> None:
    async with committer.exclusive():  # holds the thread, so the writes below queue up
        calls = [asyncio.ensure_future(committer.run(insert(n))) for n in range(50)]
        await asyncio.sleep(0)
        assert not any(c.done() for c in calls)
    assert await asyncio.gather(*calls) == [n * 10 for n in range(50)]
    rows = stored(db_file)
    assert [n for n, _ in rows] == list(range(50))
    assert len({txn for _, txn in rows}) == 1


async def test_one_bad_write_fails_alone(committer: GroupCommitter, db_file: Path) -> None:
    async with committer.exclusive():
        calls = [asyncio.ensure_future(committer.run(insert(n, fail=n == 3))) for n in range(6)]
        await asyncio.sleep(0)
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[3], ValueError) and str(results[3]) == "write 3 is bad"
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    assert [n for n, _ in stored(db_file)] == [0, 1, 2, 4, 5]  # the bad write's row rolled back


async def test_close_commits_what_was_queued(db_file: Path) -> None:
    gc = GroupCommitter(make_url(f"sqlite:///{db_file}"), on_connect=_no_pragmas)
    calls = [asyncio.ensure_future(gc.run(insert(n))) for n in range(5)]
    await asyncio.sleep(0)
    await gc.close()
    assert [n for n, _ in stored(db_file)] == list(range(5))
    assert await asyncio.gather(*calls) == [0, 10, 20, 30, 40]
    with pytest.raises(RuntimeError, match="closed"):
        await gc.run(insert(9))


async def test_a_cancelled_caller_does_not_undo_its_write(committer: GroupCommitter, db_file: Path) -> None:
    async with committer.exclusive():
        call = asyncio.ensure_future(committer.run(insert(7)))
        await asyncio.sleep(0)
        call.cancel()
    await committer.run(insert(8))
    assert [n for n, _ in stored(db_file)] == [7, 8]


async def test_database_write_takes_its_turn_after_queued_writes(db_file: Path) -> None:
    db = Database(create_engine(f"sqlite+aiosqlite:///{db_file}"))
    assert db.ordered_writes
    try:
        queued = [asyncio.ensure_future(db.run_write(insert(n))) for n in range(3)]
        await asyncio.sleep(0)
        async with db.write() as conn:
            seen = (await conn.execute(text("SELECT count(*) FROM t"))).scalar()
            await conn.execute(text("INSERT INTO t (n, txn) VALUES (100, 'async')"))
        assert seen == 3
        await asyncio.gather(*queued)
        assert [n for n, _ in stored(db_file)] == [0, 1, 2, 100]
    finally:
        await db.release()


async def test_in_memory_sqlite_writes_without_a_committer() -> None:
    db = Database(create_engine("sqlite+aiosqlite:///:memory:"))
    assert not db.ordered_writes
    try:
        assert await db.run_write(lambda conn: conn.execute(text("SELECT 41 + 1")).scalar()) == 42
    finally:
        await db.release()


async def test_the_log_is_checkpointed_into_the_database_file_in_the_background(db_file: Path) -> None:
    gc = GroupCommitter(make_url(f"sqlite:///{db_file}"), on_connect=_no_pragmas, checkpoint_interval_s=0.01)
    before = _size(db_file)
    try:
        for n in range(20):
            await gc.run(insert(n, fail=False) if n % 2 else _big_row(n))
        deadline = asyncio.get_running_loop().time() + 10
        while _size(db_file) <= before:  # the writer itself never checkpoints
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint happened"
            await asyncio.sleep(0.01)
    finally:
        await gc.close()


def _size(path: Path) -> int:
    return path.stat().st_size


def _big_row(n: int) -> Any:
    def write(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (n, txn) VALUES (:n, :txn)"), {"n": n, "txn": "x" * 20_000})

    return write
