"""The store contract runs on every backend: memory, SQLite (a temp file) and PostgreSQL (a fresh
database cloned from a migrated template)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relayflow.engine.memory import FakeClock
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.ports import ExecutionStore, WorkflowStore
from relayflow.store.sql import open_sql_stores

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
Stores = tuple[WorkflowStore, ExecutionStore]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: object) -> str | None:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/relayflow.db"
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def open_backend(db_url: str | None, clock: FakeClock) -> Stores:
    if db_url is None:
        return MemoryWorkflowStore(clock), MemoryExecutionStore()
    return await open_sql_stores(db_url, clock=clock)


@pytest.fixture
async def stores(db_url: str | None, clock: FakeClock) -> AsyncIterator[Stores]:
    opened = await open_backend(db_url, clock)
    yield opened
    for store in opened:
        await store.close()


@pytest.fixture
def workflows(stores: Stores) -> WorkflowStore:
    return stores[0]


@pytest.fixture
def executions(stores: Stores) -> ExecutionStore:
    return stores[1]
