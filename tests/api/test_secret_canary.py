"""X6: a canary credential is never found in execution data, errors, events, logs, metrics, API
answers or stored rows — raw, base64, URL-encoded or hex. And HTTP Request sends each kind of
credential (basic, header, query, bearer) to a real local server.

There is no dead-letter queue yet (it arrives with the distributed issue), so it is not searched.
"""

from __future__ import annotations

import base64
import itertools
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.api import ApiServices
from tests.api.conftest import API


class Echo:
    """A local server that answers each request's headers and query back (/echo), or fails with
    them in its body (/fail); it keeps what it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.server: TestServer | None = None

    def _seen(self, request: web.Request) -> dict[str, Any]:
        headers = {str(k): v for k, v in request.headers.items()}
        seen = {"headers": headers, "query": dict(request.query), "rawQuery": request.query_string}
        self.received.append(seen)
        return seen

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response(self._seen(request))

    async def fail(self, request: web.Request) -> web.Response:
        seen = self._seen(request)
        return web.Response(status=500, text=f"refused {seen['rawQuery']} {orjson.dumps(seen).decode()}")

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}{path}"


@pytest.fixture
async def echo(monkeypatch: pytest.MonkeyPatch, services: ApiServices) -> AsyncIterator[Echo]:
    state = Echo()
    app = web.Application()
    app.router.add_route("*", "/echo", state.echo)
    app.router.add_route("*", "/fail", state.fail)
    state.server = TestServer(app, host="127.0.0.1")
    await state.server.start_server()
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{state.server.port}")
    try:
        yield state
    finally:
        await state.server.close()
        # the services' pooled session (the server closes it at shutdown; the fixture does not)
        await services.engine.services.http.close()


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    b64 = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return [
        secret,
        *b64,
        *(f.rstrip("=") for f in b64),
        quote(secret, safe=""),
        quote_plus(secret),
        raw.hex(),
        raw.hex().upper(),
    ]


def assert_absent(secrets: list[str], text: str, where: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"{form!r} (a form of a canary) found in {where}"


async def create_credential(client: httpx.AsyncClient, type_: str, data: Mapping[str, Any]) -> dict[str, Any]:
    response = await client.post(
        f"{API}/credentials",
        json={"name": f"{type_} {uuid.uuid4().hex[:6]}", "type": type_, "data": dict(data)},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def http_node(name: str, url: str, cred: Mapping[str, Any], **params: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "n8n-nodes-base.httpRequest",
        "typeVersion": 4.2,
        "parameters": {
            "url": url,
            "authentication": "genericCredentialType",
            "genericAuthType": cred["type"],
            "options": {},
            **params,
        },
        "credentials": {cred["type"]: {"id": cred["id"], "name": cred["name"]}},
    }


def set_node(name: str, assignments: dict[str, str]) -> dict[str, Any]:
    values = [
        {"id": str(i), "name": key, "value": value, "type": "string"}
        for i, (key, value) in enumerate(assignments.items())
    ]
    return {
        "name": name,
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "parameters": {"assignments": {"assignments": values}, "options": {}},
    }


def chain(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    connections = {
        a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]}
        for a, b in itertools.pairwise(nodes)
    }
    trigger = {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}}
    connections = {
        "Start": {"main": [[{"node": nodes[0]["name"], "type": "main", "index": 0}]]},
        **connections,
    }
    return {"name": "canary", "nodes": [trigger, *nodes], "connections": connections}


async def run(client: httpx.AsyncClient, workflow: dict[str, Any]) -> tuple[str, httpx.Response]:
    created = await client.post(f"{API}/workflows", json=workflow)
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    answer = await client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True})
    assert answer.status_code == 200, answer.text
    return workflow_id, answer


# --- HTTP Request authentication -----------------------------------------------------------------
AUTH_CASES = [
    (
        "httpBasicAuth",
        {"user": "ada", "password": "pw-basic-1"},
        "authorization",
        "Basic YWRhOnB3LWJhc2ljLTE=",
    ),
    ("httpHeaderAuth", {"name": "X-Api-Key", "value": "hk-2"}, "x-api-key", "hk-2"),
    ("httpBearerAuth", {"token": "bt-3"}, "authorization", "Bearer bt-3"),
]


@pytest.mark.parametrize(("type_", "data", "header", "expected"), AUTH_CASES)
async def test_http_request_sends_the_credential_header(
    client: httpx.AsyncClient, echo: Echo, type_: str, data: dict[str, Any], header: str, expected: str
) -> None:
    cred = await create_credential(client, type_, data)
    _, answer = await run(client, chain([http_node("Call", echo.url("/echo"), cred)]))
    assert answer.json()["status"] == "succeeded", answer.text
    assert len(echo.received) == 1
    headers = {k.lower(): v for k, v in echo.received[0]["headers"].items()}
    assert headers[header] == expected


async def test_http_request_sends_the_query_credential(client: httpx.AsyncClient, echo: Echo) -> None:
    cred = await create_credential(client, "httpQueryAuth", {"name": "api_key", "value": "q s&4"})
    node = http_node(
        "Call",
        echo.url("/echo"),
        cred,
        sendQuery=True,
        queryParameters={"parameters": [{"name": "page", "value": "2"}]},
    )
    _, answer = await run(client, chain([node]))
    assert answer.json()["status"] == "succeeded", answer.text
    assert echo.received[0]["query"] == {"page": "2", "api_key": "q s&4"}


async def test_a_predefined_credential_type_works_too(client: httpx.AsyncClient, echo: Echo) -> None:
    cred = await create_credential(client, "httpHeaderAuth", {"name": "X-Token", "value": "pre-5"})
    node = http_node("Call", echo.url("/echo"), cred)
    node["parameters"].update(authentication="predefinedCredentialType", nodeCredentialType="httpHeaderAuth")
    del node["parameters"]["genericAuthType"]
    _, answer = await run(client, chain([node]))
    assert answer.json()["status"] == "succeeded", answer.text
    assert echo.received[0]["headers"]["x-token"] == "pre-5"


async def test_a_missing_credential_fails_the_node_without_calling(
    client: httpx.AsyncClient, echo: Echo
) -> None:
    ghost = {"id": "nope", "name": "Ghost", "type": "httpHeaderAuth"}
    _, answer = await run(client, chain([http_node("Call", echo.url("/echo"), ghost)]))
    body = answer.json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "credential_unavailable"
    assert "Ghost" in body["error"]["message"]
    assert echo.received == []


# --- X6: the canary ----------------------------------------------------------------------------------
class Tee:
    """Keeps a copy of every engine event on its way to the server's sink."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, data: Mapping[str, Any]) -> None:
        self.events.append((event, dict(data)))
        if self.inner is not None:
            self.inner.emit(event, data)


def canary_workflow(
    echo: Echo, header: dict[str, Any], basic: dict[str, Any], query: dict[str, Any]
) -> dict[str, Any]:
    """Header auth → a Set that copies the echoed headers → basic auth → the same → query auth
    against a server that fails with the query in its body (on error: continue) → Stop and
    Error whose message is that error."""
    grab = {
        "headers": "={{ JSON.stringify($json.headers) }}",
        "encoded": "={{ encodeURIComponent(JSON.stringify($json.headers)) }}",
        "query": "={{ $json.rawQuery }}",
    }
    fail = http_node("Query", echo.url("/fail"), query)
    fail["onError"] = "continueRegularOutput"
    stop = {
        "name": "Stop",
        "type": "n8n-nodes-base.stopAndError",
        "typeVersion": 1,
        "parameters": {"errorMessage": "={{ $json.error }} / {{ JSON.stringify($json) }}"},
    }
    return chain(
        [
            http_node("Header", echo.url("/echo"), header),
            set_node("CopyHeader", grab),
            http_node("Basic", echo.url("/echo"), basic),
            set_node("CopyBasic", grab),
            fail,
            stop,
        ]
    )


def stored_rows(db: Path) -> str:
    """Every row of every table of the SQLite database, as text."""
    if not db.exists():
        return ""
    parts = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for row in conn.execute(f'select * from "{table}"'):  # table names from sqlite_master
                parts.extend(v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(parts)


async def test_the_canary_is_never_found(
    client: httpx.AsyncClient,
    services: ApiServices,
    echo: Echo,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    canaries = [f"canary-{kind}-{uuid.uuid4().hex}" for kind in ("header", "basic", "query")]
    c_header, c_basic, c_query = canaries
    secrets = [*canaries, f"ada:{c_basic}"]
    tee = Tee(services.engine.services.events)
    services.engine.services.events = tee
    creds = [
        await create_credential(client, "httpHeaderAuth", {"name": "X-Canary", "value": c_header}),
        await create_credential(client, "httpBasicAuth", {"user": "ada", "password": c_basic}),
        await create_credential(client, "httpQueryAuth", {"name": "key", "value": c_query}),
    ]
    with caplog.at_level(logging.DEBUG):
        workflow_id, answer = await run(client, canary_workflow(echo, *creds))
        body = answer.json()
        # the test means something: each secret reached the server, and the run went as planned
        sent = orjson.dumps(echo.received).decode()
        assert c_header in sent and base64.b64encode(f"ada:{c_basic}".encode()).decode() in sent
        assert c_query in sent
        assert body["status"] == "failed", answer.text
        assert body["error"]["node"] == "Stop"
        assert "[redacted]" in body["error"]["message"]

        execution_id = body["id"]
        answers = {
            "the run answer": answer.text,
            "GET /executions/{id}": (await client.get(f"{API}/executions/{execution_id}")).text,
            "GET /executions": (
                await client.get(f"{API}/executions", params={"workflowId": workflow_id})
            ).text,
            "GET /metrics": (await client.get("/metrics")).text,
            "GET /credentials": (await client.get(f"{API}/credentials")).text,
            "the credentials created": orjson.dumps(creds).decode(),
        }
        for cred in creds:
            answers[f"GET /credentials/{cred['id']}"] = (
                await client.get(f"{API}/credentials/{cred['id']}")
            ).text
    execution = orjson.loads(answers["GET /executions/{id}"])
    header_run = next(r for r in execution["nodeRuns"] if r["node"] == "Header")
    assert header_run["output"][0][0]["json"]["headers"]["x-canary"] == "[redacted]"
    for where, text in answers.items():
        assert_absent(secrets, text, where)
    assert_absent(secrets, orjson.dumps(tee.events, default=str).decode(), "the events")
    assert_absent(secrets, caplog.text, "the logs")
    assert "relayflow_executions_total" in answers["GET /metrics"]

    await services.executions.flush()
    record = await services.executions.get(execution_id)
    assert record is not None
    assert_absent(
        secrets, orjson.dumps(record.to_dict(with_data=True), default=str).decode(), "the stored record"
    )
    for cred in creds:
        stored = await services.access.store.get_credential(cred["id"])
        assert stored is not None
        assert_absent(secrets, stored.sealed, "the sealed credential")
    assert_absent(secrets, stored_rows(tmp_path / "relayflow.db"), "the database rows")
