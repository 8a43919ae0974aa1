"""Execution retention (ExecutionStore.prune and retention.prune), on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relayflow.engine.run import ExecutionStatus
from relayflow.errors import InputInvalid
from relayflow.store.ports import ExecutionQuery, ExecutionStore
from relayflow.store.retention import RetentionSettings, prune
from tests.contract.test_execution_store import T0, record, report, run

HOUR = timedelta(hours=1)


async def add(store: ExecutionStore, id_: str, hours_ago: int, status: ExecutionStatus) -> None:
    """An execution started ``hours_ago`` before T0, with one node run, left in ``status``."""
    rec = record(id_, at=T0 - hours_ago * HOUR)
    await store.execution_started(rec)
    await report(store, rec, run("Start", 0))
    if status.terminal:
        rec.status, rec.finished_at = status, rec.started_at + timedelta(seconds=1)
        await store.execution_finished(rec)
    elif status is not ExecutionStatus.RUNNING:
        rec.status = status
        await store.execution_started(rec)


async def ids(store: ExecutionStore) -> list[str]:
    await store.flush()
    page = await store.find(ExecutionQuery(limit=100))
    return [r.id for r in page.items]


async def seed(store: ExecutionStore) -> None:
    # newest first: e0 (0 h ago) ... e7 (7 h ago)
    statuses = [
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.RUNNING,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.WAITING,
        ExecutionStatus.CRASHED,
        ExecutionStatus.RUNNING,
    ]
    for age, status in enumerate(statuses):
        await add(store, f"e{age}", age, status)


async def test_max_age_deletes_old_terminal_executions_only(executions: ExecutionStore) -> None:
    await seed(executions)
    deleted = await prune(executions, max_age=3 * HOUR + timedelta(minutes=1), max_count=None, now=T0)
    assert deleted == 2  # e4 (succeeded), e6 (crashed); e5 waiting and e7 running stay
    assert await ids(executions) == ["e0", "e1", "e2", "e3", "e5", "e7"]
    assert await executions.get("e4") is None


async def test_max_count_keeps_the_newest(executions: ExecutionStore) -> None:
    await seed(executions)
    deleted = await prune(executions, max_age=None, max_count=2)
    assert deleted == 3  # e3, e4 and e6; running e2, e7 and waiting e5 stay
    assert await ids(executions) == ["e0", "e1", "e2", "e5", "e7"]


async def test_either_bound_deletes(executions: ExecutionStore) -> None:
    await seed(executions)
    # the count keeps e0..e3 (deleting e4, e6); the age alone would delete e6 only
    assert await prune(executions, max_age=HOUR * 5.5, max_count=4, now=T0) == 2
    assert await ids(executions) == ["e0", "e1", "e2", "e3", "e5", "e7"]
    assert await prune(executions, max_age=None, max_count=0) == 3
    assert await ids(executions) == ["e2", "e5", "e7"]


async def test_batches_delete_everything_oldest_first(executions: ExecutionStore) -> None:
    await seed(executions)
    assert await executions.prune(before=None, keep_newest=0, limit=2) == 2
    assert await ids(executions) == ["e0", "e1", "e2", "e3", "e5", "e7"]
    assert await prune(executions, max_age=None, max_count=0, batch_size=1) == 3
    assert await ids(executions) == ["e2", "e5", "e7"]


async def test_nothing_to_do(executions: ExecutionStore) -> None:
    await seed(executions)
    assert await prune(executions, max_age=None, max_count=None) == 0
    assert await prune(executions, max_age=None, max_count=100) == 0
    assert await prune(executions, max_age=HOUR * 100, max_count=None, now=T0) == 0
    assert len(await ids(executions)) == 8


async def test_bad_arguments(executions: ExecutionStore) -> None:
    with pytest.raises(InputInvalid):
        await prune(executions, max_age=None, max_count=1, batch_size=0)
    with pytest.raises(InputInvalid):
        await prune(executions, max_age=None, max_count=-1)


def test_settings_from_env() -> None:
    assert RetentionSettings.from_env({}) == RetentionSettings(timedelta(hours=336), 10_000)
    env = {"RELAYFLOW_EXECUTIONS_MAX_AGE_HOURS": "0", "RELAYFLOW_EXECUTIONS_MAX_COUNT": "5"}
    assert RetentionSettings.from_env(env) == RetentionSettings(None, 5)
    with pytest.raises(InputInvalid, match="RELAYFLOW_EXECUTIONS_MAX_COUNT"):
        RetentionSettings.from_env({"RELAYFLOW_EXECUTIONS_MAX_COUNT": "many"})
