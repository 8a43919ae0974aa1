"""F15: ``Idempotency-Key`` on production webhooks. A repeated delivery runs nothing and is
answered from the first execution; the key with another body answers 409. Over the memory stores
and SQLite (whose run uses the SQL key store on the same database file)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relayflow.api import ApiServices
from relayflow.store.idempotency import Claimed, MemoryIdempotencyStore
from relayflow.store.ports import ExecutionQuery
from relayflow.store.sql.idempotency import open_idempotency_store
from tests.api.conftest import API, assert_problem
from tests.api.test_webhook_auth import credential, hook
from tests.api.test_webhooks import activate, hook_workflow

REPLAYED = "idempotent-replayed"


@pytest.fixture(autouse=True)
async def keys(services: ApiServices, tmp_path: Path) -> AsyncIterator[None]:
    """The SQLite run keeps its keys in the database, as the server does."""
    db = tmp_path / "relayflow.db"
    if not db.exists():
        assert isinstance(services.idempotency, MemoryIdempotencyStore)
        yield
        return
    services.idempotency = await open_idempotency_store(f"sqlite+aiosqlite:///{db}")
    yield
    await services.idempotency.close()


async def runs_of(services: ApiServices, workflow_id: str) -> int:
    await services.executions.flush()
    page = await services.executions.find(ExecutionQuery(workflow_id=workflow_id, limit=100))
    return len(page.items)


async def test_a_repeat_runs_nothing_and_gets_the_first_answer(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    workflow_id = await activate(client, hook_workflow("idem"))
    headers = {"Idempotency-Key": "  order-1  "}  # trimmed
    first = await client.post("/webhook/idem", json={"name": "Ada"}, headers=headers)
    assert first.status_code == 200, first.text
    assert REPLAYED not in first.headers
    again = await client.post("/webhook/idem", json={"name": "Ada"}, headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200, again.text
    assert again.headers[REPLAYED] == "true"
    assert again.json() == first.json()
    assert again.json()["greeting"] == "Ada"
    assert await runs_of(services, workflow_id) == 1


async def test_the_key_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    workflow_id = await activate(client, hook_workflow("idem"))
    headers = {"Idempotency-Key": "k1"}
    assert (await client.post("/webhook/idem", json={"name": "Ada"}, headers=headers)).status_code == 200
    other = await client.post("/webhook/idem", json={"name": "Bob"}, headers=headers)
    body = assert_problem(other, 409, "idempotency_conflict")
    assert body["executionId"]
    assert await runs_of(services, workflow_id) == 1


async def test_without_a_key_every_request_runs(client: httpx.AsyncClient, services: ApiServices) -> None:
    workflow_id = await activate(client, hook_workflow("idem"))
    for _ in range(2):
        assert (await client.post("/webhook/idem", json={"name": "Ada"})).status_code == 200
    assert await runs_of(services, workflow_id) == 2


async def test_keys_are_per_workflow(client: httpx.AsyncClient, services: ApiServices) -> None:
    one = await activate(client, hook_workflow("one"))
    two = await activate(client, hook_workflow("two"))
    headers = {"Idempotency-Key": "shared"}
    a = await client.post("/webhook/one", json={"name": "Ada"}, headers=headers)
    b = await client.post("/webhook/two", json={"name": "Bob"}, headers=headers)
    assert (a.status_code, b.status_code) == (200, 200)
    assert REPLAYED not in b.headers and b.json()["greeting"] == "Bob"
    assert (await runs_of(services, one), await runs_of(services, two)) == (1, 1)


async def test_concurrent_deliveries_run_once(client: httpx.AsyncClient, services: ApiServices) -> None:
    workflow_id = await activate(client, hook_workflow("idem"))
    headers = {"Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(client.post("/webhook/idem", json={"name": "Ada"}, headers=headers) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    assert sum(REPLAYED not in a.headers for a in answers) == 1
    ids = {a.json().get("executionId") for a in answers if a.json().get("status") is not None}
    assert len(ids) <= 1
    assert await runs_of(services, workflow_id) == 1


async def test_a_repeat_while_running_answers_the_status(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    wf = hook_workflow("slow", responseMode="onReceived")
    workflow_id = await activate(client, wf)
    headers = {"Idempotency-Key": "slow-1"}
    first = await client.post("/webhook/slow", json={"name": "Ada"}, headers=headers)
    again = await client.post("/webhook/slow", json={"name": "Ada"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() == {"message": "Workflow was started"}
    assert again.headers[REPLAYED] == "true"
    assert await runs_of(services, workflow_id) == 1


async def test_a_key_on_a_test_webhook_is_ignored(client: httpx.AsyncClient, services: ApiServices) -> None:
    created = (await client.post(f"{API}/workflows", json=hook_workflow("trial"))).json()
    headers = {"Idempotency-Key": "t"}
    for _ in range(2):
        armed = await client.post(f"{API}/workflows/{created['id']}/test-webhook")
        assert armed.status_code in (200, 201), armed.text
        answer = await client.post("/webhook-test/trial", json={"name": "Ada"}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert REPLAYED not in answer.headers


async def test_a_bad_key_is_refused(client: httpx.AsyncClient, services: ApiServices) -> None:
    workflow_id = await activate(client, hook_workflow("idem"))
    for bad in ("x" * 256, "   "):
        refused = await client.post("/webhook/idem", json={"name": "Ada"}, headers={"Idempotency-Key": bad})
        assert_problem(refused, 422, "input_invalid")
    assert await runs_of(services, workflow_id) == 0
    assert (
        await client.post("/webhook/idem", json={}, headers={"Idempotency-Key": "x" * 255})
    ).status_code == 200


async def _claimable(services: ApiServices, workflow_id: str, key: str) -> bool:
    return await services.idempotency.claim(workflow_id, key, "0" * 64, "probe") == Claimed()


async def test_refused_requests_leave_no_claim(client: httpx.AsyncClient, services: ApiServices) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-Hook-Token", "value": "tok-idem-1"})
    workflow_id = await activate(client, hook("guarded", "headerAuth", cred))
    url = "/webhook/guarded"
    unauthenticated = await client.post(url, json={"a": 1}, headers={"Idempotency-Key": "bad-auth"})
    assert_problem(unauthenticated, 401, unauthenticated.json()["code"])
    # a bad key behind a refused authentication: 401, the key is not even looked at
    bad_key = await client.post(url, json={}, headers={"Idempotency-Key": " "})
    assert bad_key.status_code == 401
    auth = {"X-Hook-Token": "tok-idem-1"}
    undecodable = await client.post(
        url,
        content=b"{not json",
        headers={**auth, "Idempotency-Key": "bad-body", "Content-Type": "application/json"},
    )
    assert undecodable.status_code == 422, undecodable.text
    services.max_body_bytes = 8
    too_large = await client.post(url, json={"big": "x" * 64}, headers={**auth, "Idempotency-Key": "too-big"})
    assert_problem(too_large, 413, "payload_too_large")
    services.max_body_bytes = 1 << 20
    assert await runs_of(services, workflow_id) == 0
    for key in ("bad-auth", "bad-body", "too-big"):
        assert await _claimable(services, workflow_id, key), key
    # and a valid retry with such a key runs
    retry = await client.post(url, json={"a": 1}, headers={**auth, "Idempotency-Key": "bad-auth-2"})
    assert retry.status_code == 200, retry.text
    assert await runs_of(services, workflow_id) == 1


async def test_a_claim_whose_execution_did_not_start_is_released(
    client: httpx.AsyncClient, services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow_id = await activate(client, hook_workflow("idem"))
    real = services.runs.start

    async def broken(execution_id: str, run: Any) -> Any:
        run.close()
        raise RuntimeError("the store is down")

    monkeypatch.setattr(services.runs, "start", broken)
    headers = {"Idempotency-Key": "retry-me"}
    failed = await client.post("/webhook/idem", json={"name": "Ada"}, headers=headers)
    assert failed.status_code == 500
    monkeypatch.setattr(services.runs, "start", real)
    again = await client.post("/webhook/idem", json={"name": "Ada"}, headers=headers)
    assert again.status_code == 200, again.text
    assert REPLAYED not in again.headers
    assert await runs_of(services, workflow_id) == 1
