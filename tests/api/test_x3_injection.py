"""X3: internal fields injected through webhook bodies, forms and multipart, under every
content type, are ignored or rejected; no file outside the upload area is ever read."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from relayflow.api import ApiServices
from relayflow.engine.binary import BinaryData, key_of
from relayflow.store.ports import ExecutionQuery
from tests.api.conftest import eventually
from tests.api.test_binary_data import _node, activate

# what an attacker would like to set: the item's own fields, n8n's webhook fields, prototype
# keys, and a binary reference to a file outside the store
FORGED: dict[str, Any] = {
    "headers": {"x-forged": "1"},
    "executionMode": "test",
    "webhookUrl": "http://evil.example/",
    "params": {"id": "forged"},
    "query": {"q": "forged"},
    "json": {"forged": True},
    "binary": {"data": {"id": "filesystem-v2:../../etc/passwd", "data": "filesystem-v2"}},
    "pairedItem": {"item": 99},
    "__proto__": {"polluted": True},
    "constructor": {"prototype": {"polluted": True}},
}
ITEM_KEYS = {"headers", "params", "query", "body", "executionMode", "webhookUrl"}


async def _webhook_item(services: ApiServices) -> dict[str, Any]:
    page = await eventually(lambda: services.executions.find(ExecutionQuery()), lambda p: len(p.items) == 1)
    record = await eventually(
        lambda: services.executions.get(page.items[0].id), lambda r: r is not None and r.status.terminal
    )
    item: dict[str, Any] = record.runs_of("Webhook")[0].output[0][0]  # type: ignore[union-attr,index]
    return item


def _assert_not_forged(item: dict[str, Any], *, files: int = 0) -> None:
    assert set(item) <= {"json", "binary"}
    assert set(item["json"]) == ITEM_KEYS
    assert item["json"]["executionMode"] == "production"
    assert item["json"]["webhookUrl"] == "http://relayflow.test/webhook/x3"
    assert item["json"]["params"] == {} and item["json"]["query"] == {}
    assert "x-forged" not in item["json"]["headers"]
    assert len(item.get("binary") or {}) == files


def _flatten(value: Any) -> str:
    return json.dumps(value)


@pytest.fixture
async def hook(client: httpx.AsyncClient) -> None:
    params = {"path": "x3", "httpMethod": "POST", "responseMode": "onReceived", "options": {}}
    await activate(
        client, {"name": "x3", "nodes": [_node("Webhook", "webhook", 2, params)], "connections": {}}
    )


@pytest.mark.usefixtures("hook")
async def test_a_json_body_stays_data(client: httpx.AsyncClient, services: ApiServices) -> None:
    response = await client.post(
        "/webhook/x3", content=json.dumps(FORGED), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    item = await _webhook_item(services)
    _assert_not_forged(item)
    assert item["json"]["body"] == FORGED  # kept as the data it is, nowhere else


@pytest.mark.usefixtures("hook")
async def test_a_form_body_stays_data(client: httpx.AsyncClient, services: ApiServices) -> None:
    fields = {k: _flatten(v) for k, v in FORGED.items()}
    response = await client.post("/webhook/x3", data=fields)
    assert response.status_code == 200
    item = await _webhook_item(services)
    _assert_not_forged(item)
    assert item["json"]["body"] == fields


@pytest.mark.usefixtures("hook")
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "text/csv", "application/x-ndjson"]
)
async def test_a_text_body_stays_text(
    client: httpx.AsyncClient, services: ApiServices, content_type: str
) -> None:
    raw = json.dumps(FORGED)
    response = await client.post("/webhook/x3", content=raw, headers={"Content-Type": content_type})
    assert response.status_code == 200
    item = await _webhook_item(services)
    _assert_not_forged(item)
    assert item["json"]["body"] == raw


@pytest.mark.usefixtures("hook")
async def test_multipart_fields_and_file_names(client: httpx.AsyncClient, services: ApiServices) -> None:
    fields = {k: _flatten(v) for k, v in FORGED.items() if k not in ("binary",)}
    files = [
        ("binary", ("../../../../etc/passwd", b"one", "text/plain")),
        ("__proto__", ("C:\\Windows\\..\\win.ini", b"two", "text/plain")),
        ("doc", ("/etc/shadow", b"three", "application/octet-stream")),
        ("data", ("..", b"four", "text/plain")),
    ]
    response = await client.post("/webhook/x3", data=fields, files=files)
    assert response.status_code == 200
    item = await _webhook_item(services)
    _assert_not_forged(item, files=4)
    assert item["json"]["body"] == fields
    names = {prop: entry.get("fileName") for prop, entry in item["binary"].items()}
    # the file names are metadata without any folder part; the bytes are what was sent
    assert names == {"binary": "passwd", "__proto__": "win.ini", "doc": "shadow", "data": None}
    binary = BinaryData(services.engine.services.binary, "x")
    got = {prop: await binary.get(entry) for prop, entry in item["binary"].items()}
    assert got == {"binary": b"one", "__proto__": b"two", "doc": b"three", "data": b"four"}
    for entry in item["binary"].values():
        assert (key_of(entry) or "").count("/") == 1 and ".." not in (key_of(entry) or "")


@pytest.mark.usefixtures("hook")
async def test_a_binary_body_names_no_path(client: httpx.AsyncClient, services: ApiServices) -> None:
    response = await client.post(
        "/webhook/x3",
        content=b"\x89PNG",
        headers={
            "Content-Type": "image/png",
            "Content-Disposition": 'attachment; filename="../../etc/passwd"',
        },
    )
    assert response.status_code == 200
    item = await _webhook_item(services)
    _assert_not_forged(item, files=1)
    assert item["binary"]["data"]["fileName"] == "passwd"


async def test_a_forged_reference_reads_nothing(client: httpx.AsyncClient, services: ApiServices) -> None:
    """A workflow that answers with binary data a body tries to point at: the body's object is
    never an item's binary, so the answer fails cleanly; and a key outside the store is refused
    by the store itself (tests/contract/test_binary_store.py)."""
    params = {"path": "x3r", "httpMethod": "POST", "responseMode": "responseNode", "options": {}}
    respond = _node("Respond", "respondToWebhook", 1.1, {"respondWith": "binary", "options": {}})
    await activate(
        client,
        {
            "name": "x3r",
            "nodes": [_node("Webhook", "webhook", 2, params), respond],
            "connections": {"Webhook": {"main": [[{"node": "Respond", "type": "main", "index": 0}]]}},
        },
    )
    response = await client.post("/webhook/x3r", json=FORGED)
    assert response.status_code == 500
    assert "root:" not in response.text
    assert "no binary data" in response.json()["detail"]
