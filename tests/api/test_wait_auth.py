"""X7 for the resume URL of a waiting execution and for the one-time test webhook.

A Wait node that resumes on a call takes the Webhook node's authentication (basic, header,
Standard Webhooks signature) and IP allow-list. A refused call answers 401 (403) problem+json,
resumes nothing and leaves the wait in place; the right call then resumes it. A refused call to
an armed test webhook leaves it armed too.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
import uuid
from typing import Any

import httpx
import orjson
import pytest

from relayflow.api import ApiServices, webhook_auth
from relayflow.api.waiting import _put_back
from relayflow.nodes import wait_node
from relayflow.triggers.webhooks import Match
from tests.api.conftest import API, assert_problem, eventually
from tests.api.test_webhook_auth import credential, executions, hook, signed


def node(name: str, type_: str, version: float, **parameters: Any) -> dict[str, Any]:
    return {"name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "parameters": parameters}


def approval(
    path: str, cred: dict[str, Any] | None = None, *, key: str = "incomingAuthentication", **wait: Any
) -> dict[str, Any]:
    """Webhook (no auth) → Wait for a POST to the resume URL (answering the last node) → NoOp."""
    waiting = node("Wait", "wait", 1.1, resume="webhook", httpMethod="POST", responseMode="lastNode")
    if "auth" in wait:
        waiting["parameters"][key] = wait.pop("auth")
    waiting["parameters"]["options"] = wait
    if cred is not None:
        waiting["credentials"] = {cred["type"]: {"id": cred["id"], "name": cred["name"]}}
    names = ("Hook", "Wait", "Done")
    return {
        "name": f"approval {path}",
        "nodes": [
            node("Hook", "webhook", 2, httpMethod="POST", path=path, responseMode="onReceived"),
            waiting,
            node("Done", "noOp", 1),
        ],
        "connections": {
            a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in itertools.pairwise(names)
        },
    }


async def start(
    client: httpx.AsyncClient, workflow: dict[str, Any], status: str = "waiting"
) -> dict[str, Any]:
    """Activate the workflow, call its webhook; its execution once it is ``status``."""
    created = await client.post(f"{API}/workflows", json=workflow)
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    assert (await client.post(f"{API}/workflows/{workflow_id}/activate")).status_code == 200
    path = workflow["nodes"][0]["parameters"]["path"]
    assert (await client.post(f"/webhook/{path}", json={"who": "Ada"})).status_code == 200
    [listed] = await eventually(lambda: executions(client, workflow_id), lambda runs: len(runs) == 1)
    return await eventually(lambda: record(client, listed["id"]), lambda e: e["status"] == status)


async def record(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    got = await client.get(f"{API}/executions/{execution_id}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def assert_still_waiting(
    client: httpx.AsyncClient,
    services: ApiServices,
    execution_id: str,
    refused: httpx.Response,
    status: int = 401,
) -> dict[str, Any]:
    body = assert_problem(refused, status, "unauthorized" if status == 401 else "forbidden")
    assert (await record(client, execution_id))["status"] == "waiting"
    assert await services.executions.parked_one(execution_id) is not None
    assert services.runs.in_flight == 0
    return body


async def assert_resumed(
    client: httpx.AsyncClient, execution_id: str, answer: httpx.Response
) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    done = await eventually(lambda: record(client, execution_id), lambda e: e["status"] == "succeeded")
    assert [r["node"] for r in done["nodeRuns"]] == ["Hook", "Wait", "Done"]
    body: dict[str, Any] = answer.json()
    return body


# --- the Wait node ---------------------------------------------------------------------------------
def test_the_wait_node_declares_the_webhook_credentials() -> None:
    [spec] = wait_node.SPECS
    assert {c.name for c in spec.credentials} == set(webhook_auth.CREDENTIAL_OF.values())
    assert wait_node.CREDENTIAL_OF == webhook_auth.CREDENTIAL_OF
    for key in ("incomingAuthentication", "authentication"):  # n8n's name and the Webhook node's
        assert wait_node.Params.model_validate({key: "signature"}).incomingAuthentication == "signature"


# --- basic, header, signature --------------------------------------------------------------------
async def test_basic_auth_guards_the_resume_url(client: httpx.AsyncClient, services: ApiServices) -> None:
    cred = await credential(client, "httpBasicAuth", {"user": "ada", "password": "pw-wait-7"})
    parked = await start(client, approval("w-basic", cred, auth="basicAuth"))
    url = f"/webhook-waiting/{parked['id']}"
    missing = await client.post(url, json={"ok": 1})
    await assert_still_waiting(client, services, parked["id"], missing)
    assert missing.headers["www-authenticate"] == 'Basic realm="Webhook"'
    for user, password in (("ada", "wrong"), ("bob", "pw-wait-7"), ("ada", "")):
        wrong = await client.post(url, json={"ok": 1}, auth=(user, password))
        await assert_still_waiting(client, services, parked["id"], wrong)

    item = await assert_resumed(
        client, parked["id"], await client.post(url, json={"ok": 1}, auth=("ada", "pw-wait-7"))
    )
    assert item["body"] == {"ok": 1}
    # the header that carried the password is not in the item (nor in the execution data)
    assert "authorization" not in item["headers"]
    stored = (await client.get(f"{API}/executions/{parked['id']}")).text
    assert base64.b64encode(b"ada:pw-wait-7").decode() not in stored
    assert_problem(await client.post(url, json={}, auth=("ada", "pw-wait-7")), 404, "not_found")


async def test_header_auth_under_the_webhook_nodes_name(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-Resume-Token", "value": "tok-wait-5"})
    parked = await start(client, approval("w-header", cred, key="authentication", auth="headerAuth"))
    url = f"/webhook-waiting/{parked['id']}"
    await assert_still_waiting(client, services, parked["id"], await client.post(url, json={}))
    for value in ("tok-wait-", "tok-wait-55", "TOK-WAIT-5"):
        wrong = await client.post(url, json={}, headers={"X-Resume-Token": value})
        await assert_still_waiting(client, services, parked["id"], wrong)
    ok = await client.post(url, json={"go": True}, headers={"x-resume-token": "tok-wait-5"})
    assert "x-resume-token" not in (await assert_resumed(client, parked["id"], ok))["headers"]


async def test_signatures_guard_the_resume_url(client: httpx.AsyncClient, services: ApiServices) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    cred = await credential(client, "webhookSignature", {"secret": secret})
    parked = await start(client, approval("w-signed", cred, auth="signature"))
    url = f"/webhook-waiting/{parked['id']}"
    body = orjson.dumps({"decision": "approved"})
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    for headers in ({"content-type": "application/json"}, signed(other, body)):
        refused = await client.post(url, content=body, headers=headers)
        problem = await assert_still_waiting(client, services, parked["id"], refused)
        assert "signature" in problem["detail"]
    tampered = await client.post(url, content=b'{"decision":"rejected"}', headers=signed(secret, body))
    await assert_still_waiting(client, services, parked["id"], tampered)
    item = await assert_resumed(
        client, parked["id"], await client.post(url, content=body, headers=signed(secret, body))
    )
    assert item["body"] == {"decision": "approved"}


# --- allow-list, credentials, what cannot be enforced ----------------------------------------------
async def test_ip_allow_list_of_the_resume_url(client: httpx.AsyncClient, services: ApiServices) -> None:
    # the in-process client calls from 127.0.0.1
    closed = await start(client, approval("w-closed", ipWhitelist="10.0.0.0/8"))
    refused = await client.post(f"/webhook-waiting/{closed['id']}", json={})
    await assert_still_waiting(client, services, closed["id"], refused, status=403)
    opened = await start(client, approval("w-open", ipWhitelist="10.0.0.0/8, 127.0.0.1"))
    await assert_resumed(client, opened["id"], await client.post(f"/webhook-waiting/{opened['id']}", json={}))


async def test_a_credential_gone_while_it_waits_refuses_and_warns(
    client: httpx.AsyncClient, services: ApiServices, caplog: pytest.LogCaptureFixture
) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-T", "value": "gone-wait-3"})
    parked = await start(client, approval("w-gone", cred, auth="headerAuth"))
    assert (await client.delete(f"{API}/credentials/{cred['id']}")).status_code == 204
    with caplog.at_level(logging.WARNING):
        refused = await client.post(
            f"/webhook-waiting/{parked['id']}", json={}, headers={"X-T": "gone-wait-3"}
        )
    await assert_still_waiting(client, services, parked["id"], refused)
    assert any("refused" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(
    ("auth", "options", "message"),
    [
        ("basicAuth", {}, "httpBasicAuth"),
        ("jwtAuth", {}, "jwtAuth"),
        ("none", {"ipWhitelist": "10.0.0.0/8, not-an-ip"}, "not-an-ip"),
    ],
)
async def test_a_wait_that_cannot_be_guarded_fails_instead_of_parking(
    client: httpx.AsyncClient, services: ApiServices, auth: str, options: dict[str, Any], message: str
) -> None:
    failed = await start(client, approval(f"w-{uuid.uuid4().hex[:6]}", auth=auth, **options), "failed")
    assert message in failed["error"]["message"]
    assert await services.executions.parked_one(failed["id"]) is None


# --- the one-time test webhook ----------------------------------------------------------------------
async def test_a_refused_call_leaves_the_test_webhook_armed(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await credential(client, "httpHeaderAuth", {"name": "X-Test-Token", "value": "tok-test-4"})
    created = await client.post(
        f"{API}/workflows", json=hook("armed", "headerAuth", cred, ipWhitelist="127.0.0.1")
    )
    workflow_id = created.json()["id"]
    armed = await client.post(f"{API}/workflows/{workflow_id}/test-webhook")
    assert armed.status_code == 200, armed.text
    for headers in ({}, {"X-Test-Token": "wrong"}):
        refused = await client.post("/webhook-test/armed", json={}, headers=headers)
        assert_problem(refused, 401, "unauthorized")
    assert await executions(client, workflow_id) == []
    ok = await client.post("/webhook-test/armed", json={"n": 1}, headers={"X-Test-Token": "tok-test-4"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["body"] == {"n": 1}
    # one run, then the listener is gone
    again = await client.post("/webhook-test/armed", json={}, headers={"X-Test-Token": "tok-test-4"})
    assert_problem(again, 404, "not_found")
    [run] = await executions(client, workflow_id)
    assert run["mode"] == "manual"


async def test_a_client_outside_the_allow_list_leaves_the_test_webhook_armed(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    created = await client.post(f"{API}/workflows", json=hook("armed-ip", ipWhitelist="10.0.0.0/8"))
    workflow_id = created.json()["id"]
    assert (await client.post(f"{API}/workflows/{workflow_id}/test-webhook")).status_code == 200
    assert_problem(await client.post("/webhook-test/armed-ip", json={}), 403, "forbidden")
    assert isinstance(services.test_routes.lookup("POST", "armed-ip"), Match)
    assert await executions(client, workflow_id) == []


async def test_a_wait_claimed_for_a_call_checked_against_another_goes_back(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    """The execution moved on to another Wait between a call's check and its claim: the claimed
    wait is stored again as it was (waiting.py ``_put_back``), and resumes as usual."""
    cred = await credential(client, "httpBasicAuth", {"user": "ada", "password": "pw-back-2"})
    parked = await start(client, approval("w-back", cred, auth="basicAuth"))
    before = await services.executions.parked_one(parked["id"])
    taken = await services.executions.take_parked(parked["id"], method="POST")
    assert taken is not None and before is not None
    await _put_back(services, *taken)
    after = await services.executions.parked_one(parked["id"])
    assert after is not None and after.nodes == before.nodes and after.due_at == before.due_at
    assert (await record(client, parked["id"]))["status"] == "waiting"
    url = f"/webhook-waiting/{parked['id']}"
    await assert_still_waiting(client, services, parked["id"], await client.post(url, json={}))
    ok = await client.post(url, json={"back": 1}, auth=("ada", "pw-back-2"))
    assert (await assert_resumed(client, parked["id"], ok))["body"] == {"back": 1}
    done = await record(client, parked["id"])
    assert [r["node"] for r in done["nodeRuns"]].count("Hook") == 1
