"""Binary data through the server: webhook bodies and uploads stored out of the items, answered
back by Respond to Webhook (streamed), downloaded through the API with the X11 headers, and
deleted with their execution."""

from __future__ import annotations

import copy
import itertools
import os
from typing import Any

import httpx

from relayflow.api import ApiServices
from relayflow.engine.binary import BinaryData, key_of
from relayflow.store.ports import ExecutionQuery
from tests.api.conftest import API, assert_problem, eventually

CSP = "sandbox; default-src 'none'"


def _node(name: str, type_: str, version: float, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "parameters": parameters}


def _chain(*names: str) -> dict[str, Any]:
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in itertools.pairwise(names)}


def echo_workflow(
    path: str = "file", *, settings: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    """Webhook (binary body) → Respond to Webhook with that binary."""
    hook = _node(
        "Webhook",
        "webhook",
        2,
        {"path": path, "httpMethod": "POST", "responseMode": "responseNode", "options": options},
    )
    respond = _node("Respond", "respondToWebhook", 1.1, {"respondWith": "binary", "options": {}})
    return {
        "name": f"echo {path}",
        "nodes": [hook, respond],
        "connections": _chain("Webhook", "Respond"),
        "settings": settings or {},
    }


async def activate(client: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    created = await client.post(f"{API}/workflows", json=copy.deepcopy(workflow))
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    response = await client.post(f"{API}/workflows/{workflow_id}/activate")
    assert response.status_code == 200, response.text
    return workflow_id


async def _only_record(services: ApiServices) -> Any:
    page = await eventually(lambda: services.executions.find(ExecutionQuery()), lambda p: len(p.items) == 1)
    return await eventually(
        lambda: services.executions.get(page.items[0].id), lambda r: r is not None and r.status.terminal
    )


def _webhook_entry(record: Any, prop: str = "data") -> dict[str, Any]:
    entry: dict[str, Any] = record.runs_of("Webhook")[0].output[0][0]["binary"][prop]
    return entry


async def test_a_binary_body_is_stored_and_answered_back_streamed(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    await activate(client, echo_workflow())
    payload = os.urandom(3 * 1024 * 1024 + 17)
    response = await client.post(
        "/webhook/file",
        content=payload,
        headers={"Content-Type": "image/png", "Content-Disposition": 'attachment; filename="../x/cat.png"'},
    )
    assert response.status_code == 200, response.text[:300]
    assert response.content == payload
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(payload))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == CSP
    entry = _webhook_entry(await _only_record(services))
    # the item carries a reference, never the bytes
    assert "data" in entry and len(str(entry["data"])) < 40
    assert entry["mimeType"] == "image/png" and entry["fileName"] == "cat.png"
    assert entry["fileExtension"] == "png" and entry["bytes"] == len(payload)
    assert entry["fileSize"] == "3.15 MB"
    assert await services.engine.services.binary.read_bytes(key_of(entry) or "") == payload


async def test_the_binary_data_option_takes_a_text_body_as_binary(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    await activate(client, echo_workflow(binaryData=True, binaryPropertyName="upload"))
    response = await client.post("/webhook/file", content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.content == b"a,b\n1,2\n"
    record = await _only_record(services)
    assert _webhook_entry(record, "upload")["mimeType"] == "text/csv"
    assert record.runs_of("Webhook")[0].output[0][0]["json"]["body"] == {}


async def test_a_json_body_is_still_decoded(client: httpx.AsyncClient, services: ApiServices) -> None:
    await activate(client, echo_workflow())
    response = await client.post("/webhook/file", json={"a": 1})
    # Respond to Webhook (binary) without binary data: the execution fails, named
    assert response.status_code == 500
    assert "no binary data" in response.json()["detail"]
    record = await _only_record(services)
    assert record.runs_of("Webhook")[0].output[0][0]["json"]["body"] == {"a": 1}


async def test_a_binary_body_over_the_limit_is_refused_and_not_kept(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    services.max_body_bytes = 1000
    await activate(client, echo_workflow())

    async def chunks() -> Any:  # no Content-Length: the cap applies while streaming into the store
        for _ in range(5):
            yield b"x" * 300

    response = await client.post(
        "/webhook/file", content=chunks(), headers={"Content-Type": "application/zip"}
    )
    assert_problem(response, 413, "payload_too_large")
    keys = services.engine.services.binary.keys()  # type: ignore[attr-defined]
    assert keys == []
    assert (await services.executions.find(ExecutionQuery())).items == []


async def test_last_node_first_entry_binary(client: httpx.AsyncClient) -> None:
    hook = _node(
        "Webhook",
        "webhook",
        2,
        {
            "path": "last",
            "httpMethod": "POST",
            "responseMode": "lastNode",
            "responseData": "firstEntryBinary",
            "options": {"responsePropertyName": "data"},
        },
    )
    await activate(client, {"name": "last", "nodes": [hook], "connections": {}})
    response = await client.post(
        "/webhook/last", content=b"\x00\x01pdf", headers={"Content-Type": "application/pdf"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b"\x00\x01pdf"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-security-policy"] == CSP


async def test_multipart_files_are_downloadable_through_the_api(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    hook = _node("Webhook", "webhook", 2, {"path": "up", "httpMethod": "POST", "responseMode": "onReceived"})
    await activate(client, {"name": "up", "nodes": [hook], "connections": {}})
    page = b"<html><script>alert(1)</script></html>"
    response = await client.post(
        "/webhook/up", files={"doc": ("évil page.html", page, "text/html")}, data={"note": "hi"}
    )
    assert response.status_code == 200
    record = await _only_record(services)
    entry = _webhook_entry(record, "doc")
    name = str(entry["id"]).rsplit("/", 1)[-1]
    got = await client.get(f"{API}/executions/{record.id}/binary/{name}")
    assert got.status_code == 200
    assert got.content == page
    assert got.headers["content-type"].startswith("text/html")
    # X11: a download, never rendered; no sniffing; sandboxed if opened anyway
    assert got.headers["content-disposition"].startswith('attachment; filename="')
    assert "filename*=UTF-8''%C3%A9vil%20page.html" in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == CSP
    assert_problem(await client.get(f"{API}/executions/{record.id}/binary/{'0' * 32}"), 404, "not_found")
    assert_problem(await client.get(f"{API}/executions/{record.id}/binary/..%2F..%2Fetc"), 404, "not_found")
    assert_problem(await client.get(f"{API}/executions/nope/binary/{name}"), 404, "not_found")


async def test_binary_data_goes_with_its_execution(client: httpx.AsyncClient, services: ApiServices) -> None:
    assert services.janitor is not None
    services.janitor.grace_s = 0.0
    store = services.engine.services.binary
    # kept: the record and its data stay until the record is deleted
    await activate(client, echo_workflow("kept"))
    assert (
        await client.post("/webhook/kept", content=b"1", headers={"Content-Type": "image/gif"})
    ).content == b"1"
    record = await _only_record(services)
    key = key_of(_webhook_entry(record)) or ""
    assert await store.read_bytes(key) == b"1"
    assert (await client.delete(f"{API}/executions/{record.id}")).status_code == 204
    await eventually(lambda: _gone(store, key), bool)
    # not kept (saveDataSuccessExecution: none): the data goes a grace period later (the
    # answer streams it meanwhile)
    services.janitor.grace_s = 0.3
    await activate(client, echo_workflow("dropped", settings={"saveDataSuccessExecution": "none"}))
    body = os.urandom(100_000)
    answer = await client.post("/webhook/dropped", content=body, headers={"Content-Type": "image/gif"})
    assert answer.content == body
    await eventually(lambda: _empty(store), bool)


async def _gone(store: Any, key: str) -> bool:
    return key not in store.keys()  # noqa: SIM118


async def _empty(store: Any) -> bool:
    return store.keys() == []


async def test_orphans_are_swept(services: ApiServices) -> None:
    """Data whose execution never got a record (a crash between upload and start) is swept."""
    assert services.janitor is not None
    store = services.engine.services.binary
    entry = await BinaryData(store, "deadbeef").put(b"orphan")
    services.janitor.orphan_age_s = 0.0
    swept = await services.janitor.sweep()
    if hasattr(store, "execution_folders"):  # on disk: swept by folder age
        assert swept == 1
        assert store.keys() == []  # type: ignore[attr-defined]
    else:  # in memory: nothing outlives the process
        assert swept == 0
        assert key_of(entry) in store.keys()  # type: ignore[attr-defined]  # noqa: SIM118
