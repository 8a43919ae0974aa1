"""Live execution events: the EventHub, the SSE routes, and the workflows-changed hook."""

from __future__ import annotations

import asyncio
import copy
import json
from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import Message

from relayflow.api import ApiServices, create_app
from relayflow.api.event_hub import LAGGED, Event, EventHub
from tests.api.conftest import API, HELLO, assert_problem, owner_key

# Start → Wait (0.5 s) → Greet: still running when the client subscribes after the 202
PAUSED: dict[str, Any] = {
    **copy.deepcopy(HELLO),
    "name": "Paused",
    "nodes": [
        *copy.deepcopy(HELLO["nodes"]),
        {
            "name": "Pause",
            "type": "n8n-nodes-base.wait",
            "typeVersion": 1.1,
            "parameters": {"amount": 0.5, "unit": "seconds"},
        },
    ],
    "connections": {
        "Start": {"main": [[{"node": "Pause", "type": "main", "index": 0}]]},
        "Pause": {"main": [[{"node": "Greet", "type": "main", "index": 0}]]},
    },
}
INPUT = [{"name": "Ada"}, {"name": "Grace"}]


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The events of an SSE body as (name, data); comments are skipped."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def _workflow(client: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    response = await client.post(f"{API}/workflows", json=copy.deepcopy(workflow))
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def _run(client: httpx.AsyncClient, workflow_id: str, *, wait: bool) -> str:
    response = await client.post(f"{API}/workflows/{workflow_id}/run", json={"input": INPUT, "wait": wait})
    assert response.status_code == (200 if wait else 202), response.text
    execution_id: str = response.json()["id"]
    return execution_id


async def _stream(client: httpx.AsyncClient, path: str) -> list[tuple[str, dict[str, Any]]]:
    async with client.stream("GET", path) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join([chunk async for chunk in response.aiter_text()])
    return parse_sse(text)


async def test_execution_stream_follows_a_run_to_its_end(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    execution_id = await _run(client, await _workflow(client, PAUSED), wait=False)
    events = await asyncio.wait_for(_stream(client, f"{API}/executions/{execution_id}/events"), 10)
    names = [name for name, _ in events]
    assert names == [
        "execution.started",
        *["node.started", "node.finished"] * 3,
        "execution.finished",
    ]
    assert all(data["executionId"] == execution_id for _, data in events)
    finished = [(d["node"], d["itemsOut"]) for n, d in events if n == "node.finished"]
    assert finished == [("Start", [2]), ("Pause", [2]), ("Greet", [2])]
    assert events[-1][1]["status"] == "succeeded"
    assert services.events.subscribers == 0


async def test_the_streams_refuse_a_caller_without_a_key(
    services: ApiServices, created: dict[str, Any]
) -> None:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as anonymous:
        for path in (f"{API}/events", f"{API}/executions/any/events"):
            response = await anonymous.get(path)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"]
    assert services.events.subscribers == 0


async def test_a_finished_execution_answers_its_end_alone(
    client: httpx.AsyncClient, created: dict[str, Any]
) -> None:
    execution_id = await _run(client, created["id"], wait=True)
    events = await _stream(client, f"{API}/executions/{execution_id}/events")
    assert events == [
        ("execution.finished", {"executionId": execution_id, "status": "succeeded", "error": None})
    ]


async def test_the_events_of_an_unknown_execution_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"{API}/executions/nope/events"), 404, "not_found")


class SseClient:
    """Reads an endless SSE response straight from the ASGI app (httpx.ASGITransport waits for
    the response to end), then disconnects. ``api_key`` authenticates the request."""

    def __init__(self, app: FastAPI, path: str, api_key: str) -> None:
        self.app, self.path, self.api_key = app, path, api_key
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.requested = False
        self.buffer = ""
        self.task: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        await self.messages.put(message)

    async def __aenter__(self) -> SseClient:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"relayflow.test"), (b"x-api-key", self.api_key.encode())],
            "server": ("relayflow.test", 80),
            "client": ("127.0.0.1", 40000),
        }
        self.task = asyncio.create_task(self.app(scope, self.receive, self.send))
        start = await asyncio.wait_for(self.messages.get(), 5)
        assert start["type"] == "http.response.start" and start["status"] == 200
        assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
        return self

    async def block(self) -> str:
        """The next blank-line-terminated SSE block (an event or a comment)."""
        while "\n\n" not in self.buffer:
            message = await asyncio.wait_for(self.messages.get(), 5)
            self.buffer += message.get("body", b"").decode()
        block, self.buffer = self.buffer.split("\n\n", 1)
        return block

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.disconnected.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)


async def test_all_events_sees_two_executions_until_the_client_leaves(
    client: httpx.AsyncClient, services: ApiServices, created: dict[str, Any]
) -> None:
    async with SseClient(create_app(services), f"{API}/events", client.headers["x-api-key"]) as sse:
        assert await sse.block() == ": connected"
        first = await _run(client, created["id"], wait=True)
        second = await _run(client, created["id"], wait=True)
        events: list[tuple[str, dict[str, Any]]] = []
        while sum(name == "execution.finished" for name, _ in events) < 2:
            events += parse_sse(await sse.block() + "\n\n")
        assert services.events.subscribers == 1
    assert services.events.subscribers == 0
    for execution_id in (first, second):
        mine = [name for name, data in events if data["executionId"] == execution_id]
        assert mine[0] == "execution.started" and mine[-1] == "execution.finished"
        assert mine.count("node.finished") == 2


async def test_all_events_sends_keep_alive_comments(services: ApiServices) -> None:
    services.events.keepalive_s = 0.05
    async with SseClient(create_app(services), f"{API}/events", await owner_key(services)) as sse:
        assert await sse.block() == ": connected"
        assert await sse.block() == ": keep-alive"


async def test_a_slow_subscriber_loses_the_oldest_events_and_is_told() -> None:
    hub = EventHub(queue_limit=3)
    sub = hub.subscribe()
    for i in range(10):
        hub.emit("node.started", {"executionId": "x", "runIndex": i})
        assert len(sub) <= 3
    lagged = await sub.get(1)
    assert lagged == Event(LAGGED, {"dropped": 7})
    kept = [await sub.get(1) for _ in range(3)]
    assert [e.data["runIndex"] for e in kept if e is not None] == [7, 8, 9]
    assert await sub.get(0.01) is None


async def test_a_late_subscriber_replays_a_running_execution_within_bounds() -> None:
    hub = EventHub(history_limit=2, max_histories=1)
    hub.emit("execution.started", {"executionId": "a"})
    hub.emit("node.started", {"executionId": "a", "node": "Start"})
    hub.emit("node.finished", {"executionId": "a", "node": "Start"})
    replay = hub.subscribe("a")
    assert [(await replay.get(1) or Event("", {})).name for _ in range(2)] == [
        "node.started",
        "node.finished",
    ]
    hub.emit("execution.started", {"executionId": "b"})  # evicts a's history (max_histories=1)
    assert len(hub.subscribe("a")) == 0
    hub.emit("execution.finished", {"executionId": "b"})
    assert len(hub.subscribe("b")) == 0
    assert len(replay) == 0  # b's events are not a's


async def test_saving_and_activating_wake_the_hook(
    client: httpx.AsyncClient, services: ApiServices, created: dict[str, Any]
) -> None:
    calls: list[str] = []
    services.on_workflows_changed = lambda: calls.append("changed")
    wid = created["id"]
    assert (await client.post(f"{API}/workflows/{wid}/activate")).status_code == 200
    assert calls == ["changed"]
    assert (await client.post(f"{API}/workflows/{wid}/deactivate")).status_code == 200
    assert (await client.patch(f"{API}/workflows/{wid}", json={"name": "Renamed"})).status_code == 200
    assert (await client.delete(f"{API}/workflows/{wid}")).status_code == 204
    assert calls == ["changed"] * 4
    assert (await client.get(f"{API}/workflows/{wid}")).status_code == 404
    assert calls == ["changed"] * 4
