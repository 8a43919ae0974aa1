"""X7: webhook authentication (basic, header, Standard Webhooks signatures) and the IP allow-list.

Missing, wrong, stale and replayed credentials or signatures answer 401 problem+json and start
no execution; a client outside the allow-list gets 403; valid requests run as usual.
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest

from relayflow.api import ApiServices
from relayflow.security.webhook_signatures import sign
from tests.api.conftest import API, assert_problem


async def credential(client: httpx.AsyncClient, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        f"{API}/credentials", json={"name": f"{type_}-{uuid.uuid4().hex[:6]}", "type": type_, "data": data}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def hook(
    path: str, authentication: str = "none", cred: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    """Webhook (answering the last node) → NoOp."""
    webhook: dict[str, Any] = {
        "name": "Webhook",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "parameters": {
            "path": path,
            "httpMethod": "POST",
            "responseMode": "lastNode",
            "authentication": authentication,
            "options": options,
        },
    }
    if cred is not None:
        webhook["credentials"] = {cred["type"]: {"id": cred["id"], "name": cred["name"]}}
    return {
        "name": f"hook {path}",
        "nodes": [
            webhook,
            {"name": "Done", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {"Webhook": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
    }


async def activate(client: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    created = await client.post(f"{API}/workflows", json=copy.deepcopy(workflow))
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    response = await client.post(f"{API}/workflows/{workflow_id}/activate")
    assert response.status_code == 200, response.text
    return workflow_id


async def executions(client: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/executions", params={"workflowId": workflow_id})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def assert_refused(
    client: httpx.AsyncClient,
    services: ApiServices,
    workflow_id: str,
    response: httpx.Response,
    status: int = 401,
) -> dict[str, Any]:
    body = assert_problem(response, status, "unauthorized" if status == 401 else "forbidden")
    assert services.runs.in_flight == 0
    assert await executions(client, workflow_id) == []
    return body


# --- basic ---------------------------------------------------------------------------------------
async def test_basic_auth(client: httpx.AsyncClient, services: ApiServices) -> None:
    cred = await credential(client, "httpBasicAuth", {"user": "ada", "password": "pw-basic-9"})
    workflow_id = await activate(client, hook("basic", "basicAuth", cred))
    url = "/webhook/basic"
    missing = await client.post(url, json={"a": 1}, headers={"X-API-Key": ""})
    await assert_refused(client, services, workflow_id, missing)
    assert missing.headers["www-authenticate"] == 'Basic realm="Webhook"'
    for user, password in (("ada", "wrong"), ("bob", "pw-basic-9"), ("ada", "")):
        wrong = await client.post(url, json={"a": 1}, auth=(user, password))
        await assert_refused(client, services, workflow_id, wrong)
    garbled = await client.post(url, json={"a": 1}, headers={"Authorization": "Basic !!notbase64"})
    await assert_refused(client, services, workflow_id, garbled)

    ok = await client.post(url, json={"a": 1}, auth=("ada", "pw-basic-9"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["body"] == {"a": 1}
    # the header that carried the password is not in the item (nor in the execution data)
    assert "authorization" not in ok.json()["headers"]
    runs = await executions(client, workflow_id)
    assert len(runs) == 1
    stored = (await client.get(f"{API}/executions/{runs[0]['id']}")).text
    assert "pw-basic-9" not in stored
    assert base64.b64encode(b"ada:pw-basic-9").decode() not in stored


# --- header --------------------------------------------------------------------------------------
async def test_header_auth(client: httpx.AsyncClient, services: ApiServices) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-Hook-Token", "value": "tok-header-8"})
    workflow_id = await activate(client, hook("header", "headerAuth", cred))
    url = "/webhook/header"
    await assert_refused(client, services, workflow_id, await client.post(url, json={}))
    for value in ("tok-header-", "tok-header-88", "TOK-HEADER-8"):
        wrong = await client.post(url, json={}, headers={"X-Hook-Token": value})
        await assert_refused(client, services, workflow_id, wrong)
    ok = await client.post(url, json={"b": 2}, headers={"x-hook-token": "tok-header-8"})
    assert ok.status_code == 200, ok.text
    assert "x-hook-token" not in ok.json()["headers"]
    assert len(await executions(client, workflow_id)) == 1


# --- signature -----------------------------------------------------------------------------------
def signed(
    secret: str, body: bytes, *, message_id: str | None = None, at: int | None = None
) -> dict[str, str]:
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    stamp = at if at is not None else int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, message_id, stamp, body),
        "content-type": "application/json",
    }


async def test_signatures(client: httpx.AsyncClient, services: ApiServices) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    cred = await credential(client, "webhookSignature", {"secret": secret})
    workflow_id = await activate(client, hook("signed", "signature", cred))
    url = "/webhook/signed"
    body = orjson.dumps({"event": "paid"})

    cases = {
        "missing": {"content-type": "application/json"},
        "wrong secret": signed("whsec_" + base64.b64encode(os.urandom(32)).decode(), body),
        "stale": signed(secret, body, at=int(time.time()) - 600),
        "future": signed(secret, body, at=int(time.time()) + 600),
    }
    for name, headers in cases.items():
        refused = await client.post(url, content=body, headers=headers)
        problem = await assert_refused(client, services, workflow_id, refused)
        assert "signature" in problem["detail"], name
    tampered = await client.post(url, content=orjson.dumps({"event": "refund"}), headers=signed(secret, body))
    await assert_refused(client, services, workflow_id, tampered)

    headers = signed(secret, body)
    ok = await client.post(url, content=body, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["body"] == {"event": "paid"}
    replayed = await client.post(url, content=body, headers=headers)
    assert "replay" in assert_problem(replayed, 401, "unauthorized")["detail"]
    assert len(await executions(client, workflow_id)) == 1


async def test_the_replay_cache_survives_a_route_change(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    secret = "plain-text-secret-123"
    cred = await credential(client, "webhookSignature", {"secret": secret})
    workflow = hook("signed2", "signature", cred)
    workflow_id = await activate(client, workflow)
    body = b"{}"
    headers = signed(secret, body)
    assert (await client.post("/webhook/signed2", content=body, headers=headers)).status_code == 200
    # saving the workflow registers its routes anew
    workflow["name"] = "renamed"
    assert (await client.put(f"{API}/workflows/{workflow_id}", json=workflow)).status_code == 200
    replayed = await client.post("/webhook/signed2", content=body, headers=headers)
    assert_problem(replayed, 401, "unauthorized")
    assert len(await executions(client, workflow_id)) == 1


# --- the credential and the activation -------------------------------------------------------------
async def test_a_credential_gone_after_activation_refuses_and_warns(
    client: httpx.AsyncClient, services: ApiServices, caplog: pytest.LogCaptureFixture
) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-T", "value": "gone-value-1"})
    workflow_id = await activate(client, hook("gone", "headerAuth", cred))
    assert (await client.delete(f"{API}/credentials/{cred['id']}")).status_code == 204
    with caplog.at_level(logging.WARNING):
        refused = await client.post("/webhook/gone", json={}, headers={"X-T": "gone-value-1"})
    await assert_refused(client, services, workflow_id, refused)
    assert any("refused" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(
    ("authentication", "options"),
    [
        ("basicAuth", {}),
        ("signature", {}),
        ("jwtAuth", {}),
        ("none", {"ipWhitelist": "10.0.0.0/8, not-an-ip"}),
    ],
)
async def test_what_cannot_be_enforced_is_refused_at_activation(
    client: httpx.AsyncClient, authentication: str, options: dict[str, Any]
) -> None:
    created = (await client.post(f"{API}/workflows", json=hook("x", authentication, None, **options))).json()
    assert_problem(await client.post(f"{API}/workflows/{created['id']}/activate"), 422, "input_invalid")
    assert (await client.get(f"{API}/workflows/{created['id']}")).json()["active"] is False


# --- IP allow-list ---------------------------------------------------------------------------------
async def test_ip_allow_list(client: httpx.AsyncClient, services: ApiServices) -> None:
    # the in-process client calls from 127.0.0.1
    outside = await activate(client, hook("closed", ipWhitelist="10.0.0.0/8, 192.168.1.7"))
    refused = await client.post("/webhook/closed", json={})
    await assert_refused(client, services, outside, refused, status=403)
    inside = await activate(client, hook("open", ipWhitelist="10.0.0.0/8,127.0.0.0/8"))
    ok = await client.post("/webhook/open", json={})
    assert ok.status_code == 200, ok.text
    assert len(await executions(client, inside)) == 1


async def test_allow_list_and_authentication_together(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-T", "value": "both-value-2"})
    workflow_id = await activate(client, hook("both", "headerAuth", cred, ipWhitelist="127.0.0.1"))
    await assert_refused(client, services, workflow_id, await client.post("/webhook/both", json={}))
    ok = await client.post("/webhook/both", json={}, headers={"X-T": "both-value-2"})
    assert ok.status_code == 200, ok.text
