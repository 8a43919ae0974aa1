"""POST /executions/{id}/retry: from scratch, or from the failed node with stored outputs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import assert_problem


def broken(name: str = "Check") -> dict[str, Any]:
    """Start → Prepare (Set) → Check (Stop and Error) → Done (NoOp)."""
    return {
        "name": "Retry me",
        "nodes": [
            {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {
                "name": "Prepare",
                "type": "n8n-nodes-base.set",
                "typeVersion": 3.4,
                "parameters": {
                    "assignments": {
                        "assignments": [{"id": "a", "name": "ready", "value": True, "type": "boolean"}]
                    },
                    "includeOtherFields": True,
                },
            },
            {
                "name": name,
                "type": "n8n-nodes-base.stopAndError",
                "typeVersion": 1,
                "parameters": {"errorMessage": "not yet"},
            },
            {"name": "Done", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {
            "Start": {"main": [[{"node": "Prepare", "type": "main", "index": 0}]]},
            "Prepare": {"main": [[{"node": name, "type": "main", "index": 0}]]},
            name: {"main": [[{"node": "Done", "type": "main", "index": 0}]]},
        },
    }


async def failed_run(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    wf = (await client.post("/api/v1/workflows", json=broken())).json()
    r = await client.post(f"/api/v1/workflows/{wf['id']}/run", json={"wait": True, "input": [{"order": 7}]})
    assert r.status_code == 200 and r.json()["status"] == "failed"
    return wf, r.json()


async def test_retry_from_the_failed_node_keeps_finished_nodes(client: httpx.AsyncClient) -> None:
    wf, first = await failed_run(client)
    fixed = broken()
    fixed["nodes"][2] = {"name": "Check", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}}
    put = await client.put(f"/api/v1/workflows/{wf['id']}", json={**fixed, "versionId": wf["versionId"]})
    assert put.status_code == 200, put.text

    r = await client.post(
        f"/api/v1/executions/{first['id']}/retry", json={"fromFailedNode": True, "wait": True}
    )
    assert r.status_code == 200, r.text
    retry = r.json()
    assert retry["status"] == "succeeded" and retry["retryOf"] == first["id"] and retry["mode"] == "retry"
    assert retry["data"] == [{"order": 7, "ready": True}]

    old = (await client.get(f"/api/v1/executions/{first['id']}")).json()
    new = (await client.get(f"/api/v1/executions/{retry['id']}")).json()
    old_prepare = next(n for n in old["nodeRuns"] if n["node"] == "Prepare")
    new_prepare = next(n for n in new["nodeRuns"] if n["node"] == "Prepare")
    assert new_prepare["startedAt"] == old_prepare["startedAt"]  # kept, not run again
    assert [n["node"] for n in new["nodeRuns"]] == ["Start", "Prepare", "Check", "Done"]


async def test_retry_from_scratch_runs_everything_again(client: httpx.AsyncClient) -> None:
    _, first = await failed_run(client)
    r = await client.post(f"/api/v1/executions/{first['id']}/retry", json={"wait": True})
    assert r.status_code == 200
    retry = r.json()
    assert retry["status"] == "failed" and retry["error"]["node"] == "Check"
    new = (await client.get(f"/api/v1/executions/{retry['id']}")).json()
    old = (await client.get(f"/api/v1/executions/{first['id']}")).json()
    assert new["nodeRuns"][1]["startedAt"] != old["nodeRuns"][1]["startedAt"]


async def test_retry_answers_202_without_wait(client: httpx.AsyncClient) -> None:
    _, first = await failed_run(client)
    r = await client.post(f"/api/v1/executions/{first['id']}/retry")
    assert r.status_code == 202 and r.headers["location"].startswith("/api/v1/executions/")


async def test_retry_refusals(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/api/v1/executions/nope/retry"), 404, "not_found")
    ok = (
        await client.post(
            "/api/v1/workflows",
            json={
                **broken(),
                "nodes": broken()["nodes"][:2],
                "connections": {"Start": broken()["connections"]["Start"]},
            },
        )
    ).json()
    done = (await client.post(f"/api/v1/workflows/{ok['id']}/run", json={"wait": True})).json()
    assert done["status"] == "succeeded"
    assert_problem(await client.post(f"/api/v1/executions/{done['id']}/retry"), 409, "conflict")
    r = await client.post(f"/api/v1/executions/{done['id']}/retry", json={"fromFailedNode": "yes please"})
    assert r.status_code == 422
