"""In-process API tests: the app over memory stores, called through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from relayflow.api import ApiServices, build_services, create_app
from relayflow.store.config import open_stores
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.ports import ExecutionStore, WorkflowStore

T = TypeVar("T")

API = "/api/v1"

HELLO: dict[str, Any] = {
    "name": "Hello",
    "nodes": [
        {
            "id": "a1",
            "name": "Start",
            "type": "n8n-nodes-base.manualTrigger",
            "typeVersion": 1,
            "position": [0, 0],
            "parameters": {},
        },
        {
            "id": "a2",
            "name": "Greet",
            "type": "n8n-nodes-base.set",
            "typeVersion": 3.4,
            "position": [220, 0],
            "parameters": {
                "assignments": {
                    "assignments": [
                        {
                            "id": "g",
                            "name": "greeting",
                            "value": "=Hello, {{ $json.name }}!",
                            "type": "string",
                        }
                    ]
                },
                "includeOtherFields": True,
                "options": {},
            },
        },
    ],
    "connections": {"Start": {"main": [[{"node": "Greet", "type": "main", "index": 0}]]}},
    "settings": {"executionOrder": "v1"},
}

SLOW: dict[str, Any] = {
    "name": "Slow",
    "nodes": [
        {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
        {
            "name": "Wait",
            "type": "n8n-nodes-base.wait",
            "typeVersion": 1.1,
            "parameters": {"amount": 60, "unit": "seconds"},
        },
    ],
    "connections": {"Start": {"main": [[{"node": "Wait", "type": "main", "index": 0}]]}},
}


def hello(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(HELLO), **changes}


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, deadline_s: float = 10.0
) -> T:
    """Poll ``probe`` until ``accept`` holds for its value; fail at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {deadline_s} s; last value: {value!r}")
        await asyncio.sleep(0.01)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:relayflow:problem:{code}"
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


@pytest.fixture(params=["memory", "sqlite"])
async def services(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiServices]:
    """The API over the memory stores and over the SQL stores on a fresh SQLite file."""
    if request.param == "memory":
        stores: tuple[WorkflowStore, ExecutionStore] = (MemoryWorkflowStore(), MemoryExecutionStore())
    else:
        stores = await open_stores(f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}")
    # SLOW's 60 s Wait must keep running here, not park (tests/api/test_waits.py parks)
    svc = build_services(*stores, wait_park_after_s=3600)
    yield svc
    await svc.runs.drain(0.0, svc.engine)
    await svc.executions.flush()
    await svc.executions.close()
    await svc.workflows.close()
    if svc.engine.expressions is not None:
        svc.engine.expressions.close()


@pytest.fixture
async def client(services: ApiServices) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as c:
        yield c


@pytest.fixture
async def created(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(f"{API}/workflows", json=hello())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
