"""Durable waits through the API: a Wait parks its execution (stored as ``waiting``, no task
left), and a timer or a call to ``$execution.resumeUrl`` continues it under the same id, also
after the stores are closed and opened again (a restart)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import open_access_store
from relayflow.api import ApiServices, build_services, create_app
from relayflow.api.services import start_waits
from relayflow.security.secrets import Keyring
from relayflow.store.config import open_stores
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.ports import ExecutionStore, WorkflowStore
from tests.api.conftest import API, OWNER_EMAIL, assert_problem, eventually, owner_key

Stores = tuple[WorkflowStore, ExecutionStore]


def node(name: str, type_: str, version: float, **parameters: Any) -> dict[str, Any]:
    return {"name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "parameters": parameters}


def chain(*names: str) -> dict[str, Any]:
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in itertools.pairwise(names)}


def set_node(name: str, field: str, value: str) -> dict[str, Any]:
    assignment = {"id": field, "name": field, "value": value, "type": "string"}
    return node(
        name, "set", 3.4, assignments={"assignments": [assignment]}, includeOtherFields=True, options={}
    )


def timer_workflow(seconds: float) -> dict[str, Any]:
    return {
        "name": "Timer",
        "nodes": [
            node("Start", "manualTrigger", 1),
            set_node("Before", "before", "={{ $execution.id }}"),
            node("Wait", "wait", 1.1, amount=seconds, unit="seconds"),
            set_node("After", "after", "={{ $('Before').item.json.before }}"),
        ],
        "connections": chain("Start", "Before", "Wait", "After"),
    }


def call_workflow(response_mode: str = "lastNode", **wait: Any) -> dict[str, Any]:
    return {
        "name": "Approval",
        "nodes": [
            node("Hook", "webhook", 2, httpMethod="POST", path="approve", responseMode="onReceived"),
            set_node("Link", "resumeUrl", "={{ $execution.resumeUrl }}"),
            node(
                "Wait", "wait", 1.1, resume="webhook", httpMethod="POST", responseMode=response_mode, **wait
            ),
            set_node(
                "Decided", "decision", "={{ $json.body.decision }} by {{ $('Hook').item.json.body.who }}"
            ),
        ],
        "connections": chain("Hook", "Link", "Wait", "Decided"),
    }


@pytest.fixture(params=["memory", "sqlite"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield MemoryWorkflowStore(), MemoryExecutionStore()
        return
    opened = await open_stores(f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}")
    yield opened
    for store in opened:
        await store.close()


async def serve(stores: Stores, access: AccessService | None = None) -> ApiServices:
    services = build_services(*stores, wait_park_after_s=0.5, base_url="http://relayflow.test", access=access)
    await start_waits(services)
    return services


async def shut(services: ApiServices) -> None:
    assert services.timers is not None
    await services.timers.stop(0)
    await services.runs.drain(0.0, services.engine)
    await services.executions.flush()
    if services.engine.expressions is not None:
        services.engine.expressions.close()


@pytest.fixture
async def services(stores: Stores) -> AsyncIterator[ApiServices]:
    svc = await serve(stores)
    yield svc
    await shut(svc)


@asynccontextmanager
async def owner_client(services: ApiServices, api_key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app over ``services``, as the instance owner (a new key unless given one)."""
    transport = httpx.ASGITransport(app=create_app(services))
    headers = {"X-API-Key": api_key or await owner_key(services)}
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test", headers=headers) as c:
        yield c


@pytest.fixture
async def client(services: ApiServices) -> AsyncIterator[httpx.AsyncClient]:
    async with owner_client(services) as c:
        yield c


async def create(client: httpx.AsyncClient, workflow: dict[str, Any], *, active: bool = False) -> str:
    created = await client.post(f"{API}/workflows", json=workflow)
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    if active:
        assert (await client.post(f"{API}/workflows/{workflow_id}/activate")).status_code == 200
    return workflow_id


async def execution(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    got = await client.get(f"{API}/executions/{execution_id}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def until_status(client: httpx.AsyncClient, execution_id: str, status: str) -> dict[str, Any]:
    return await eventually(lambda: execution(client, execution_id), lambda e: e["status"] == status)


async def parked_approval(client: httpx.AsyncClient, **wait: Any) -> dict[str, Any]:
    workflow_id = await create(client, call_workflow(**wait), active=True)
    answer = await client.post("/webhook/approve", json={"who": "Ada"})
    assert answer.status_code == 200, answer.text
    [listed] = (await client.get(f"{API}/executions", params={"workflowId": workflow_id})).json()["data"]
    return await until_status(client, listed["id"], "waiting")


def outputs(record: dict[str, Any], name: str) -> list[Any]:
    return [it["json"] for run in record["nodeRuns"] if run["node"] == name for it in run["output"][0]]


async def test_a_timer_wait_parks_then_resumes_under_the_same_id(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    workflow_id = await create(client, timer_workflow(1.0))
    started = await client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True})
    assert started.status_code == 200, started.text
    parked = started.json()
    assert parked["status"] == "waiting" and parked["finishedAt"] is None
    assert parked["waitTill"] is not None
    assert services.runs.in_flight == 0  # nothing runs while it waits
    record = await execution(client, parked["id"])
    assert [r["node"] for r in record["nodeRuns"]] == ["Start", "Before"]
    done = await until_status(client, parked["id"], "succeeded")
    assert [r["node"] for r in done["nodeRuns"]] == ["Start", "Before", "Wait", "After"]
    # the data before the wait is there after it: $('Before') and $execution.id
    assert outputs(done, "After") == [{"before": parked["id"], "after": parked["id"]}]
    assert done["startedAt"] == parked["startedAt"] and done["waitTill"] is None
    assert done["finishedAt"] >= parked["waitTill"]


async def test_a_call_to_the_resume_url_continues_with_its_request(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    parked = await parked_approval(client)
    [link] = outputs(parked, "Link")
    assert link["resumeUrl"] == f"http://relayflow.test/webhook-waiting/{parked['id']}"
    assert parked["waitTill"] is None  # only a call resumes it
    # the resume URL is public: whoever holds it calls it without an API key
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as anonymous:
        wrong = await anonymous.get(f"/webhook-waiting/{parked['id']}")
        assert_problem(wrong, 405, "method_not_allowed")
        assert wrong.headers["allow"] == "POST"
        answer = await anonymous.post(
            f"/webhook-waiting/{parked['id']}?via=mail", json={"decision": "approved"}
        )
    assert answer.status_code == 200, answer.text
    # lastNode: the Decided node's item, the call's request with the field set
    decided = answer.json()
    assert decided["decision"] == "approved by Ada"
    assert decided["body"] == {"decision": "approved"} and decided["query"] == {"via": "mail"}
    done = await execution(client, parked["id"])
    assert done["status"] == "succeeded"
    assert [r["node"] for r in done["nodeRuns"]] == ["Hook", "Link", "Wait", "Decided"]
    again = await client.post(f"/webhook-waiting/{parked['id']}", json={"decision": "rejected"})
    assert_problem(again, 404, "not_found")


async def test_the_resume_call_is_answered_at_once_in_on_received_mode(client: httpx.AsyncClient) -> None:
    parked = await parked_approval(client, response_mode="onReceived")
    answer = await client.post(f"/webhook-waiting/{parked['id']}", json={"decision": "no"})
    assert answer.status_code == 200
    assert answer.json() == {"message": "Workflow was started"}
    done = await until_status(client, parked["id"], "succeeded")
    assert outputs(done, "Decided")[0]["decision"] == "no by Ada"


async def test_a_call_that_never_comes_lets_the_items_pass_at_the_limit(client: httpx.AsyncClient) -> None:
    limit = {
        "limitWaitTime": True,
        "limitType": "afterTimeInterval",
        "resumeAmount": 1,
        "resumeUnit": "seconds",
    }
    parked = await parked_approval(client, **limit)
    assert parked["waitTill"] is not None
    done = await until_status(client, parked["id"], "succeeded")
    # no request: the Wait passed its input on, so the body is the trigger's
    assert outputs(done, "Decided") == [
        {**outputs(done, "Link")[0], "decision": " by Ada"},
    ]


async def test_a_waiting_execution_can_be_stopped(client: httpx.AsyncClient) -> None:
    parked = await parked_approval(client)
    stopped = await client.post(f"{API}/executions/{parked['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "cancelled"
    assert (await execution(client, parked["id"]))["status"] == "cancelled"
    late = await client.post(f"/webhook-waiting/{parked['id']}", json={})
    assert_problem(late, 404, "not_found")
    assert (await client.post(f"{API}/executions/{parked['id']}/stop")).status_code == 409


async def test_racing_calls_resume_once(client: httpx.AsyncClient) -> None:
    parked = await parked_approval(client, response_mode="onReceived")
    answers = await asyncio.gather(
        *(client.post(f"/webhook-waiting/{parked['id']}", json={"decision": str(i)}) for i in range(5))
    )
    assert sorted(a.status_code for a in answers)[0] == 200
    assert sum(a.status_code == 200 for a in answers) == 1
    assert all(a.status_code in (200, 404, 409) for a in answers)
    done = await until_status(client, parked["id"], "succeeded")
    assert len([r for r in done["nodeRuns"] if r["node"] == "Decided"]) == 1


async def test_other_branches_finish_and_a_merge_waits_for_the_parked_one(client: httpx.AsyncClient) -> None:
    workflow = {
        "name": "Branches",
        "nodes": [
            node("Start", "manualTrigger", 1),
            node("Wait", "wait", 1.1, amount=1, unit="seconds"),
            set_node("Fast", "fast", "yes"),
            node("Merge", "merge", 3, mode="append"),
        ],
        "connections": {
            "Start": {
                "main": [
                    [
                        {"node": "Wait", "type": "main", "index": 0},
                        {"node": "Fast", "type": "main", "index": 0},
                    ]
                ]
            },
            "Wait": {"main": [[{"node": "Merge", "type": "main", "index": 0}]]},
            "Fast": {"main": [[{"node": "Merge", "type": "main", "index": 1}]]},
        },
    }
    workflow_id = await create(client, workflow)
    parked = (await client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True})).json()
    assert parked["status"] == "waiting"
    assert sorted(r["node"] for r in (await execution(client, parked["id"]))["nodeRuns"]) == ["Fast", "Start"]
    done = await until_status(client, parked["id"], "succeeded")
    assert outputs(done, "Merge") == [{}, {"fast": "yes"}]
    assert [r["node"] for r in done["nodeRuns"]].count("Fast") == 1


async def test_a_deleted_workflow_fails_its_waiting_execution(client: httpx.AsyncClient) -> None:
    parked = await parked_approval(client)
    await client.delete(f"{API}/workflows/{parked['workflowId']}")
    answer = await client.post(f"/webhook-waiting/{parked['id']}", json={})
    assert_problem(answer, 404, "not_found")
    failed = await execution(client, parked["id"])
    assert failed["status"] == "failed" and "deleted" in failed["error"]["message"]


async def test_waits_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}"
    keyring = Keyring.of([os.urandom(32)])

    async def access() -> AccessService:
        """Users and keys in the same database, as the server keeps them."""
        return AccessService(await open_access_store(url), keyring, hasher=fast_hasher())

    first = await serve(await open_stores(url), await access())
    key = await owner_key(first)
    async with owner_client(first, key) as c:
        timer_id = await create(c, timer_workflow(1.5))
        timed = (await c.post(f"{API}/workflows/{timer_id}/run", json={"wait": True})).json()
        called = await parked_approval(c)
    await shut(first)
    await first.executions.close()
    await first.workflows.close()
    await first.access.store.close()
    # a new process: the timer comes from the database, the resume URL still works, and so does
    # the owner's key
    second = await serve(await open_stores(url), await access())
    try:
        assert second.timers is not None and len(second.timers) == 1
        assert [u.email for u in await second.access.store.users()] == [OWNER_EMAIL]
        async with owner_client(second, key) as c:
            answer = await c.post(f"/webhook-waiting/{called['id']}", json={"decision": "yes"})
            assert answer.status_code == 200 and answer.json()["decision"] == "yes by Ada"
            done = await until_status(c, timed["id"], "succeeded")
            assert outputs(done, "After") == [{"before": timed["id"], "after": timed["id"]}]
    finally:
        await shut(second)
        await second.executions.close()
        await second.workflows.close()
        await second.access.store.close()


async def test_a_waiting_execution_resumes_on_the_version_it_started_on(client: httpx.AsyncClient) -> None:
    parked = await parked_approval(client, response_mode="onReceived")
    edited = call_workflow()
    edited["nodes"][3] = set_node("Decided", "decision", "=changed")
    saved = await client.put(f"{API}/workflows/{parked['workflowId']}", json=edited)
    assert saved.status_code == 200, saved.text
    await client.post(f"/webhook-waiting/{parked['id']}", json={"decision": "yes"})
    done = await until_status(client, parked["id"], "succeeded")
    assert outputs(done, "Decided")[0]["decision"] == "yes by Ada"
