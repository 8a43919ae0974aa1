"""In-process API tests: the app over memory stores, called through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import copy
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.ports import AccessStore
from relayflow.access.ratelimit import RateLimits, RateLimitSettings
from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import open_access_store
from relayflow.api import ApiServices, build_services, create_app
from relayflow.binary import FilesystemBinaryStore, MemoryBinaryStore
from relayflow.http_session import SharedSession
from relayflow.security.secrets import Keyring
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
    access_store: AccessStore
    if request.param == "memory":
        stores: tuple[WorkflowStore, ExecutionStore] = (MemoryWorkflowStore(), MemoryExecutionStore())
        access_store = MemoryAccessStore()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}"
        stores = await open_stores(url)
        access_store = await open_access_store(url)
    # eventually() polls every 10 ms: the per-key limit must not answer 429 to a slow condition
    limits = RateLimits(RateLimitSettings(per_minute=1_000_000))
    access = AccessService(access_store, Keyring.of([os.urandom(32)]), hasher=fast_hasher(), limits=limits)
    # SLOW's 60 s Wait must keep running here, not park (tests/api/test_waits.py parks)
    # binary data in memory beside the memory stores, on disk beside SQLite (as the server)
    binary = MemoryBinaryStore() if request.param == "memory" else FilesystemBinaryStore(tmp_path / "binary")
    svc = build_services(*stores, wait_park_after_s=3600, access=access, binary=binary)
    yield svc
    await svc.runs.drain(0.0, svc.engine)
    await svc.executions.flush()
    if svc.janitor is not None:
        await svc.janitor.close()
    await svc.executions.close()
    await svc.workflows.close()
    await access_store.close()
    http = svc.engine.services.http
    if isinstance(http, SharedSession):
        await http.close()
    if svc.engine.expressions is not None:
        svc.engine.expressions.close()


OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "owner-password-1"


async def owner_key(services: ApiServices) -> str:
    """Set the instance up (its owner) and return an API key of the owner with every scope."""
    owner = await services.access.store.user_by_email(OWNER_EMAIL)
    if owner is None:
        owner = await services.access.setup_owner(OWNER_EMAIL, "Owner", OWNER_PASSWORD)
    issued = await services.access.issue_api_key(owner, "tests")
    return issued.token


@pytest.fixture
async def client(services: ApiServices) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the instance owner (an API key with every scope)."""
    transport = httpx.ASGITransport(app=create_app(services))
    headers = {"X-API-Key": await owner_key(services)}
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test", headers=headers) as c:
        yield c


@pytest.fixture
async def created(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(f"{API}/workflows", json=hello())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
