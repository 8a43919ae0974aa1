"""Running workflows through the API, and /api/v1/executions."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx

from relayflow.api import ApiServices
from tests.api.conftest import API, SLOW, assert_problem, eventually

FAILING: dict[str, Any] = {
    "name": "Failing",
    "nodes": [
        {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
        {
            "name": "Boom",
            "type": "n8n-nodes-base.stopAndError",
            "typeVersion": 1,
            "parameters": {"errorMessage": "no luck"},
        },
    ],
    "connections": {"Start": {"main": [[{"node": "Boom", "type": "main", "index": 0}]]}},
}


async def _post(client: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    response = await client.post(f"{API}/workflows", json=copy.deepcopy(workflow))
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def _execution(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"{API}/executions/{execution_id}")).json()
    return body


async def _terminal(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    return await eventually(
        lambda: _execution(client, execution_id),
        lambda e: e["status"] in ("succeeded", "failed", "cancelled", "crashed"),
    )


async def test_run_with_wait_answers_the_result(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    body = {"input": [{"name": "Ada"}, {"name": "Grace"}], "wait": True}
    response = await client.post(f"{API}/workflows/{created['id']}/run", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "succeeded"
    assert result["workflowId"] == created["id"]
    assert result["mode"] == "manual"
    assert result["data"] == [
        {"name": "Ada", "greeting": "Hello, Ada!"},
        {"name": "Grace", "greeting": "Hello, Grace!"},
    ]
    stored = await _execution(client, result["id"])
    runs = {r["node"]: r for r in stored["nodeRuns"]}
    assert runs["Greet"]["itemsOut"] == [2]
    assert runs["Greet"]["output"][0][0]["json"]["greeting"] == "Hello, Ada!"


async def test_run_without_wait_answers_202_then_finishes(
    client: httpx.AsyncClient, created: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/workflows/{created['id']}/run", json={"input": {"name": "Bo"}})
    assert response.status_code == 202, response.text
    started = response.json()
    assert response.headers["location"] == f"{API}/executions/{started['id']}"
    assert started["workflowId"] == created["id"]
    done = await _terminal(client, started["id"])
    assert done["status"] == "succeeded"
    assert [r["node"] for r in done["nodeRuns"]] == ["Start", "Greet"]


async def test_run_with_pin_data_and_start_node(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    url = f"{API}/workflows/{created['id']}/run"
    pinned = await client.post(url, json={"pinData": {"Greet": [{"json": {"x": 1}}]}, "wait": True})
    assert pinned.json()["data"] == [{"x": 1}]
    from_greet = await client.post(url, json={"startNode": "Greet", "input": {"name": "Z"}, "wait": True})
    assert from_greet.json()["data"] == [{"name": "Z", "greeting": "Hello, Z!"}]


async def test_a_failed_run_reports_the_node(client: httpx.AsyncClient) -> None:
    workflow_id = await _post(client, FAILING)
    result = (await client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True})).json()
    assert result["status"] == "failed"
    assert result["error"]["node"] == "Boom"
    assert result["error"]["message"] == "no luck"


async def test_bad_run_requests(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    url = f"{API}/workflows/{created['id']}/run"
    unknown_node = await client.post(url, json={"startNode": "Nope"})
    assert "startNode" in assert_problem(unknown_node, 422, "input_invalid")["detail"]
    extra = await client.post(url, json={"wiat": True})
    assert assert_problem(extra, 422, "input_invalid")["issues"][0]["field"] == "body.wiat"
    bad_pins = await client.post(url, json={"pinData": {"Greet": "x"}})
    assert assert_problem(bad_pins, 422, "input_invalid")["issues"][0]["field"].startswith("body.pinData")
    assert_problem(await client.post(f"{API}/workflows/nope/run", json={}), 404, "not_found")


async def test_list_executions_filters_and_pages(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    failing = await _post(client, FAILING)
    ids = []
    for _ in range(3):
        r = await client.post(f"{API}/workflows/{created['id']}/run", json={"wait": True})
        ids.append(r.json()["id"])
    failed = (await client.post(f"{API}/workflows/{failing}/run", json={"wait": True})).json()

    async def listed(**params: Any) -> list[str]:
        body = (await client.get(f"{API}/executions", params=params)).json()
        assert all("nodeRuns" not in e for e in body["data"])
        return [e["id"] for e in body["data"]]

    assert sorted(await listed(workflowId=created["id"])) == sorted(ids)
    assert await listed(status="failed") == [failed["id"]]
    assert await listed(startedAfter="2999-01-01T00:00:00Z") == []
    assert len(await listed(startedBefore="2999-01-01T00:00:00")) == 4

    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/executions", params=params)).json()
        seen.extend(e["id"] for e in page["data"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert cursor is None
    assert sorted(seen) == sorted([*ids, failed["id"]])

    bad = await client.get(f"{API}/executions", params={"status": "sleepy"})
    assert assert_problem(bad, 422, "input_invalid")["issues"][0]["field"] == "query.status"
    bad_time = await client.get(f"{API}/executions", params={"startedAfter": "yesterday"})
    assert assert_problem(bad_time, 422, "input_invalid")["issues"][0]["field"] == "query.startedAfter"


async def test_stop_a_long_running_execution(client: httpx.AsyncClient) -> None:
    workflow_id = await _post(client, SLOW)
    started = (await client.post(f"{API}/workflows/{workflow_id}/run", json={})).json()
    url = f"{API}/executions/{started['id']}"
    await eventually(
        lambda: _execution(client, started["id"]), lambda e: any(r["node"] == "Start" for r in e["nodeRuns"])
    )
    assert_problem(await client.delete(url), 409, "conflict")

    stopped = await client.post(f"{url}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "cancelled"
    record = await _execution(client, started["id"])
    assert record["status"] == "cancelled"
    assert {r["node"]: r["status"] for r in record["nodeRuns"]}["Wait"] == "cancelled"
    assert_problem(await client.post(f"{url}/stop"), 409, "conflict")


async def test_delete_an_execution(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    result = (await client.post(f"{API}/workflows/{created['id']}/run", json={"wait": True})).json()
    url = f"{API}/executions/{result['id']}"
    deleted = await client.delete(url)
    assert deleted.status_code == 204
    assert_problem(await client.get(url), 404, "not_found")
    assert_problem(await client.delete(url), 404, "not_found")
    assert_problem(await client.post(f"{url}/stop"), 404, "not_found")


async def test_drain_cancels_runs_past_the_grace_period(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    workflow_id = await _post(client, SLOW)
    started = (await client.post(f"{API}/workflows/{workflow_id}/run", json={})).json()
    assert services.runs.in_flight == 1
    assert await services.runs.drain(0.05, services.engine) == 1
    assert services.runs.in_flight == 0
    assert (await _execution(client, started["id"]))["status"] == "cancelled"


async def test_a_sub_workflow_by_database_id_comes_from_the_store(client: httpx.AsyncClient) -> None:
    child = {
        "name": "Child",
        "nodes": [
            {
                "name": "In",
                "type": "n8n-nodes-base.executeWorkflowTrigger",
                "typeVersion": 1,
                "parameters": {},
            },
            {"name": "Echo", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {"In": {"main": [[{"node": "Echo", "type": "main", "index": 0}]]}},
    }
    child_id = await _post(client, child)
    parent = {
        "name": "Parent",
        "nodes": [
            {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {
                "name": "Call",
                "type": "n8n-nodes-base.executeWorkflow",
                "typeVersion": 1,
                "parameters": {"workflowId": child_id},
            },
        ],
        "connections": {"Start": {"main": [[{"node": "Call", "type": "main", "index": 0}]]}},
    }
    parent_id = await _post(client, parent)
    url = f"{API}/workflows/{parent_id}/run"
    result = (await client.post(url, json={"input": [{"n": 1}], "wait": True})).json()
    assert result["status"] == "succeeded", result["error"]
    assert result["data"] == [{"n": 1}]
    await client.delete(f"{API}/workflows/{child_id}")
    missing = (await client.post(url, json={"wait": True})).json()
    assert missing["status"] == "failed"
    assert child_id in missing["error"]["message"]


async def test_drain_stops_waiting_when_hurried(client: httpx.AsyncClient, services: ApiServices) -> None:
    workflow_id = await _post(client, SLOW)
    started = (await client.post(f"{API}/workflows/{workflow_id}/run", json={})).json()
    hurry = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, hurry.set)
    began = time.monotonic()
    assert await services.runs.drain(30.0, services.engine, hurry) == 1
    assert time.monotonic() - began < 5
    assert (await _execution(client, started["id"]))["status"] == "cancelled"
