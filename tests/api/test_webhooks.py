"""/webhook/{path}: activation registers Webhook nodes; requests start executions and are answered
per responseMode. Runs over the memory stores and SQLite (the ``client`` fixture)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import httpx

from relayflow.api import ApiServices
from relayflow.engine.binary import BinaryData
from relayflow.store.ports import ExecutionQuery
from tests.api.conftest import API, assert_problem, eventually


def _node(name: str, type_: str, version: float, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "parameters": parameters}


def _set(name: str = "Set", value: str = "={{ $json.body.name ?? $json.query.name }}") -> dict[str, Any]:
    assignment = {"id": "1", "name": "greeting", "value": value, "type": "string"}
    return _node(
        name,
        "set",
        3.4,
        {"assignments": {"assignments": [assignment]}, "includeOtherFields": True, "options": {}},
    )


def _chain(*names: str) -> dict[str, Any]:
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in itertools.pairwise(names)}


def hook_workflow(path: str = "hello", method: str | list[str] = "POST", **webhook: Any) -> dict[str, Any]:
    """Webhook → Set (greeting from body.name or query.name), in n8n's export shape."""
    params = {"path": path, "httpMethod": method, "responseMode": "lastNode", **webhook}
    nodes = [_node("Webhook", "webhook", 2, params), _set()]
    return {"name": f"hook {path}", "nodes": nodes, "connections": _chain("Webhook", "Set")}


async def activate(client: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    created = await client.post(f"{API}/workflows", json=copy.deepcopy(workflow))
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    response = await client.post(f"{API}/workflows/{workflow_id}/activate")
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True
    return workflow_id


async def test_post_json_answers_the_last_node_output(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow())
    response = await client.post("/webhook/hello", json={"name": "Ada"})
    assert response.status_code == 200, response.text
    assert response.json()["greeting"] == "Ada"
    assert response.json()["body"] == {"name": "Ada"}
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_get_query_and_path_params_reach_the_item(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow("orders/:id", "GET"))
    response = await client.get("/webhook/orders/42", params={"name": "Bo", "tag": ["a", "b"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["greeting"] == "Bo"
    assert body["params"] == {"id": "42"}
    assert body["query"] == {"name": "Bo", "tag": ["a", "b"]}
    assert body["executionMode"] == "production"


async def test_form_and_multipart_bodies(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow())
    form = await client.post("/webhook/hello", data={"name": "Cy", "x": "1"})
    assert form.json()["body"] == {"name": "Cy", "x": "1"}
    multipart = await client.post(
        "/webhook/hello", data={"name": "Di"}, files={"doc": ("a.txt", b"hello file", "text/plain")}
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["greeting"] == "Di"


async def test_multipart_files_become_binary(client: httpx.AsyncClient, services: ApiServices) -> None:
    await activate(client, hook_workflow(responseMode="onReceived"))
    files = {"doc": ("a.txt", b"hello file", "text/plain")}
    response = await client.post("/webhook/hello", data={"name": "Di"}, files=files)
    assert response.status_code == 200
    page = await services.executions.find(ExecutionQuery())
    record = await eventually(
        lambda: services.executions.get(page.items[0].id), lambda r: r is not None and r.status.terminal
    )
    assert record is not None
    item = record.runs_of("Webhook")[0].output[0][0]  # type: ignore[index]
    assert item["binary"]["doc"]["fileName"] == "a.txt"
    entry = item["binary"]["doc"]
    assert (entry["mimeType"], entry["bytes"], entry["fileSize"]) == ("text/plain", 10, "10 B")
    assert await BinaryData(services.engine.services.binary, "x").get(entry) == b"hello file"


async def test_unknown_path_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow("hello", ["POST", "PUT"], multipleMethods=True))
    assert_problem(await client.post("/webhook/nope"), 404, "not_found")
    response = await client.delete("/webhook/hello")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST, PUT"
    assert (await client.put("/webhook/hello", json={"name": "Put"})).json()["greeting"] == "Put"


async def test_body_over_the_limit_413(client: httpx.AsyncClient, services: ApiServices) -> None:
    services.max_body_bytes = 100
    await activate(client, hook_workflow())
    assert_problem(await client.post("/webhook/hello", content=b"x" * 101), 413, "payload_too_large")

    async def chunks() -> Any:  # no Content-Length: the cap applies while reading
        for _ in range(5):
            yield b"y" * 30

    assert_problem(await client.post("/webhook/hello", content=chunks()), 413, "payload_too_large")
    assert (await services.executions.find(ExecutionQuery())).items == []


async def test_bad_json_422(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow())
    headers = {"content-type": "application/json"}
    assert_problem(
        await client.post("/webhook/hello", content=b"{nope", headers=headers), 422, "input_invalid"
    )


async def test_conflicting_activation_409_and_stays_inactive(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow())
    created = (await client.post(f"{API}/workflows", json=hook_workflow())).json()
    response = await client.post(f"{API}/workflows/{created['id']}/activate")
    assert_problem(response, 409, "conflict")
    assert (await client.get(f"{API}/workflows/{created['id']}")).json()["active"] is False
    assert (await client.post("/webhook/hello", json={"name": "Still"})).json()["greeting"] == "Still"


async def test_deactivate_and_delete_unregister(client: httpx.AsyncClient) -> None:
    first = await activate(client, hook_workflow("one"))
    second = await activate(client, hook_workflow("two"))
    await client.post(f"{API}/workflows/{first}/deactivate")
    assert_problem(await client.post("/webhook/one"), 404, "not_found")
    assert (await client.delete(f"{API}/workflows/{second}")).status_code == 204
    assert_problem(await client.post("/webhook/two"), 404, "not_found")


async def test_updating_an_active_workflow_moves_its_webhook(client: httpx.AsyncClient) -> None:
    workflow_id = await activate(client, hook_workflow("old"))
    current = (await client.get(f"{API}/workflows/{workflow_id}")).json()
    current["nodes"][0]["parameters"]["path"] = "new"
    assert (await client.put(f"{API}/workflows/{workflow_id}", json=current)).status_code == 200
    assert_problem(await client.post("/webhook/old"), 404, "not_found")
    assert (await client.post("/webhook/new", json={"name": "N"})).json()["greeting"] == "N"


async def test_routes_are_rebuilt_from_the_store(services: ApiServices, client: httpx.AsyncClient) -> None:
    from relayflow.api import create_app

    await activate(client, hook_workflow())
    # a fresh process starts with an empty table and builds it from the store on first use
    services.routes = type(services.routes)()
    services.routes_loaded = False
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as fresh:
        assert (await fresh.post("/webhook/hello", json={"name": "Re"})).json()["greeting"] == "Re"


def slow_workflow(mode: str) -> dict[str, Any]:
    wait = _node("Wait", "wait", 1.1, {"amount": 60, "unit": "seconds"})
    params = {"path": "slow", "httpMethod": "POST", "responseMode": mode, "responseCode": 202}
    nodes = [_node("Webhook", "webhook", 2, params), wait]
    return {"name": "slow", "nodes": nodes, "connections": _chain("Webhook", "Wait")}


async def test_on_received_answers_before_the_execution_ends(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    await activate(client, slow_workflow("onReceived"))
    response = await client.post("/webhook/slow", json={})
    assert response.status_code == 202
    assert response.json() == {"message": "Workflow was started"}
    page = await services.executions.find(ExecutionQuery())
    assert len(page.items) == 1  # recorded before the answer
    record = page.items[0]
    assert record.mode == "webhook"
    assert record.status.value == "running"
    assert services.runs.in_flight == 1


async def test_backpressure_503_without_starting(client: httpx.AsyncClient, services: ApiServices) -> None:
    services.max_in_flight = 1
    await activate(client, slow_workflow("onReceived"))
    assert (await client.post("/webhook/slow", json={})).status_code == 202
    response = await client.post("/webhook/slow", json={})
    assert_problem(response, 503, "overloaded")
    assert response.headers["retry-after"] == "1"
    assert len((await services.executions.find(ExecutionQuery())).items) == 1


async def test_execution_is_stored_with_mode_webhook(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    workflow_id = await activate(client, hook_workflow())
    await client.post("/webhook/hello", json={"name": "Ada"})
    [record] = (await services.executions.find(ExecutionQuery(workflow_id=workflow_id))).items
    assert record.mode == "webhook"
    assert record.status.value == "succeeded"


async def test_last_node_all_entries_and_no_data(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow("all", responseData="allEntries"))
    assert (await client.post("/webhook/all", json={"name": "A"})).json()[0]["greeting"] == "A"
    await activate(client, hook_workflow("none", responseData="noData"))
    response = await client.post("/webhook/none", json={"name": "A"})
    assert response.status_code == 200 and response.content == b""


async def test_last_node_failure_500_names_the_node(client: httpx.AsyncClient) -> None:
    workflow = hook_workflow("boom")
    workflow["nodes"][1] = _node("Fail", "stopAndError", 1, {"errorMessage": "nope"})
    workflow["connections"] = _chain("Webhook", "Fail")
    await activate(client, workflow)
    body = assert_problem(await client.post("/webhook/boom", json={}), 500, "workflow_error")
    assert body["node"] == "Fail"
    assert "Fail" in body["detail"]


def respond_workflow(**respond: Any) -> dict[str, Any]:
    hook = _node("Webhook", "webhook", 2, {"path": "r", "httpMethod": "POST", "responseMode": "responseNode"})
    wait = _node("Wait", "wait", 1.1, {"amount": 60, "unit": "seconds"})
    nodes = [hook, _set(), _node("Respond", "respondToWebhook", 1.1, respond), wait]
    return {"name": "respond", "nodes": nodes, "connections": _chain("Webhook", "Set", "Respond", "Wait")}


async def test_response_node_decides_status_headers_body(client: httpx.AsyncClient) -> None:
    headers = {"entries": [{"name": "X-Custom", "value": "yes"}]}
    respond = {
        "respondWith": "json",
        "responseBody": '={{ { "hi": $json.greeting } }}',
        "options": {"responseCode": 201, "responseHeaders": headers},
    }
    await activate(client, respond_workflow(**respond))
    # answered while the Wait node after Respond still runs
    response = await client.post("/webhook/r", json={"name": "Ada"})
    assert response.status_code == 201, response.text
    assert response.json() == {"hi": "Ada"}
    assert response.headers["x-custom"] == "yes"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_response_node_text_and_first_item(client: httpx.AsyncClient) -> None:
    workflow_id = await activate(
        client, respond_workflow(respondWith="text", responseBody="={{ $json.greeting }}!")
    )
    response = await client.post("/webhook/r", json={"name": "Bo"})
    assert response.text == "Bo!" and response.headers["content-type"].startswith("text/plain")
    await client.post(f"{API}/workflows/{workflow_id}/deactivate")
    await activate(client, respond_workflow(respondWith="firstIncomingItem"))
    assert (await client.post("/webhook/r", json={"name": "Cy"})).json()["greeting"] == "Cy"


async def test_response_node_redirect(client: httpx.AsyncClient) -> None:
    await activate(client, respond_workflow(respondWith="redirect", redirectURL="https://example.org/x"))
    response = await client.post("/webhook/r", json={"name": "R"})
    assert response.status_code == 307
    assert response.headers["location"] == "https://example.org/x"


async def test_response_node_mode_without_respond_answers_like_last_node(client: httpx.AsyncClient) -> None:
    workflow = hook_workflow("plain", responseMode="responseNode")
    await activate(client, workflow)
    response = await client.post("/webhook/plain", json={"name": "NoRespond"})
    assert response.status_code == 200
    assert response.json()["greeting"] == "NoRespond"


async def test_test_webhook_runs_once_in_manual_mode(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    created = (await client.post(f"{API}/workflows", json=hook_workflow("try"))).json()
    assert_problem(await client.post("/webhook-test/try", json={}), 404, "not_found")
    armed = await client.post(f"{API}/workflows/{created['id']}/test-webhook")
    assert armed.status_code == 200, armed.text
    assert armed.json()["webhooks"] == [{"method": "POST", "path": "try", "url": "/webhook-test/try"}]
    response = await client.post("/webhook-test/try", json={"name": "T"})
    assert response.status_code == 200, response.text
    assert response.json()["greeting"] == "T"
    assert response.json()["executionMode"] == "test"
    [record] = (await services.executions.find(ExecutionQuery(workflow_id=created["id"]))).items
    assert record.mode == "manual"
    assert_problem(await client.post("/webhook-test/try", json={}), 404, "not_found")
    assert_problem(await client.post("/webhook/try", json={}), 404, "not_found")  # still inactive


async def test_test_webhook_needs_a_webhook_node(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    response = await client.post(f"{API}/workflows/{created['id']}/test-webhook")
    assert_problem(response, 422, "input_invalid")


async def test_protected_webhooks_are_refused_not_served_open(client: httpx.AsyncClient) -> None:
    created = (await client.post(f"{API}/workflows", json=hook_workflow(authentication="basicAuth"))).json()
    assert_problem(await client.post(f"{API}/workflows/{created['id']}/activate"), 422, "input_invalid")
    assert (await client.get(f"{API}/workflows/{created['id']}")).json()["active"] is False
