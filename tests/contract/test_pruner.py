"""The background Pruner on every backend: periodic passes, survival of database errors, stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from relayflow.engine.memory import FakeClock
from relayflow.engine.run import ExecutionStatus
from relayflow.errors import InputInvalid
from relayflow.store.ports import ExecutionStore
from relayflow.store.pruner import Pruner
from relayflow.store.retention import RetentionSettings, prune
from tests.contract.test_execution_store import T0
from tests.contract.test_retention import HOUR, add, ids, seed

FAST = 0.01  # seconds between passes


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


def settings(**kw: object) -> RetentionSettings:
    fields: dict[str, object] = {"max_age": None, "max_count": None, "interval_s": FAST, "batch_size": 1}
    return RetentionSettings(**(fields | kw))  # type: ignore[arg-type]


async def test_passes_repeat_until_stopped(executions: ExecutionStore) -> None:
    await seed(executions)
    pruner = Pruner(executions, settings(max_count=2))
    await pruner.start()
    try:

        async def kept_newest() -> bool:
            return await ids(executions) == ["e0", "e1", "e2", "e5", "e7"]

        await eventually(kept_newest, "the first pass pruned beyond the newest 2")
        # a later pass prunes what arrived since
        await add(executions, "new", -1, ExecutionStatus.SUCCEEDED)

        async def pruned_again() -> bool:
            return await ids(executions) == ["new", "e0", "e2", "e5", "e7"]

        await eventually(pruned_again, "a later pass pruned e1")
    finally:
        await pruner.stop()
    assert pruner.deleted == 4 and pruner.failures == 0
    passes = pruner.passes
    await asyncio.sleep(FAST * 5)
    assert pruner.passes == passes  # stopped means no more passes


async def test_the_age_is_measured_on_the_pruners_clock(executions: ExecutionStore) -> None:
    await seed(executions)
    pruner = Pruner(executions, settings(max_age=3 * HOUR + timedelta(minutes=1)), clock=FakeClock(T0))
    assert await pruner.run_once() == 2  # e4 and e6
    assert await ids(executions) == ["e0", "e1", "e2", "e3", "e5", "e7"]


async def test_a_failing_pass_is_logged_and_retried(
    executions: ExecutionStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(executions)
    real = executions.prune
    calls = 0

    async def flaky(*, before: datetime | None, keep_newest: int | None, limit: int) -> int:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionError("database went away")
        return await real(before=before, keep_newest=keep_newest, limit=limit)

    monkeypatch.setattr(executions, "prune", flaky)
    pruner = Pruner(executions, settings(max_count=0, batch_size=100))
    with caplog.at_level(logging.ERROR, logger="relayflow.pruner"):
        await pruner.start()
        try:

            async def only_unfinished() -> bool:
                return await ids(executions) == ["e2", "e5", "e7"]

            await eventually(only_unfinished, "a pass after the failures pruned")
        finally:
            await pruner.stop()
    assert pruner.failures == 2
    assert caplog.text.count("pruning executions failed") == 2
    assert "database went away" in caplog.text


async def test_stop_ends_a_long_pass_between_batches(
    executions: ExecutionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(executions)
    stop = asyncio.Event()
    real = executions.prune

    async def stopping(*, before: datetime | None, keep_newest: int | None, limit: int) -> int:
        stop.set()  # as if Pruner.stop() arrived during this batch
        return await real(before=before, keep_newest=keep_newest, limit=limit)

    monkeypatch.setattr(executions, "prune", stopping)
    assert await prune(executions, max_age=None, max_count=0, batch_size=1, stop=stop) == 1
    assert len(await ids(executions)) == 7


async def test_off_when_there_is_no_interval_or_no_bound(executions: ExecutionStore) -> None:
    await seed(executions)
    for off in (settings(max_count=0, interval_s=None), settings()):
        pruner = Pruner(executions, off)
        assert not pruner.enabled
        await pruner.start()
        await asyncio.sleep(FAST * 3)
        await pruner.stop()
        assert pruner.passes == 0
    assert len(await ids(executions)) == 8


def test_bad_settings_are_refused() -> None:
    from relayflow.store.memory import MemoryExecutionStore

    with pytest.raises(InputInvalid, match="interval must be > 0"):
        Pruner(MemoryExecutionStore(), settings(interval_s=0))
    with pytest.raises(InputInvalid, match="batch size must be at least 1"):
        Pruner(MemoryExecutionStore(), settings(batch_size=0))


def test_settings_from_env() -> None:
    assert RetentionSettings.from_env({}).interval_s == 300
    assert RetentionSettings.from_env({}).batch_size == 500
    env = {"RELAYFLOW_PRUNE_INTERVAL_S": "0", "RELAYFLOW_PRUNE_BATCH_SIZE": "50"}
    assert RetentionSettings.from_env(env) == RetentionSettings(interval_s=None, batch_size=50)
    assert RetentionSettings.from_env({"RELAYFLOW_PRUNE_INTERVAL_S": "2.5"}).interval_s == 2.5
    for name, raw in [
        ("RELAYFLOW_PRUNE_INTERVAL_S", "-1"),
        ("RELAYFLOW_PRUNE_INTERVAL_S", "nan"),
        ("RELAYFLOW_PRUNE_BATCH_SIZE", "1.5"),
        ("RELAYFLOW_PRUNE_BATCH_SIZE", "0"),
        ("RELAYFLOW_PRUNE_BATCH_SIZE", "lots"),
    ]:
        with pytest.raises(InputInvalid, match=name):
            RetentionSettings.from_env({name: raw})
