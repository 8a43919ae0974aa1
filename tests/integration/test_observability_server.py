"""A real ``relayflow start`` with tracing on sends an execution's spans over OTLP/HTTP to the
collector ``OTEL_EXPORTER_OTLP_ENDPOINT`` names (here a small aiohttp one on loopback), and with
``RELAYFLOW_LOG_FORMAT=json`` writes its log as JSON lines."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.api.conftest import API
from tests.api.test_server import ServerProcess


class Collector:
    """Accepts ``POST /v1/traces`` (OTLP protobuf), keeping the requests' spans."""

    def __init__(self) -> None:
        self.requests = 0
        self.spans: list[dict[str, Any]] = []
        self.services: set[str] = set()
        self.executions = asyncio.Event()  # set once an execution's span arrived

    async def traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        self.requests += 1
        for resource_spans in export.resource_spans:
            for attr in resource_spans.resource.attributes:
                if attr.key == "service.name":
                    self.services.add(attr.value.string_value)
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    if span.name.startswith("execution "):
                        self.executions.set()
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value for a in span.attributes},
                        }
                    )
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    found = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", found.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield found, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def traced_webhook() -> dict[str, Any]:
    return {
        "name": "traced hook",
        "nodes": [
            {
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "parameters": {"httpMethod": "POST", "path": "traced", "responseMode": "lastNode"},
            },
            {"name": "Pass", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {"Webhook": {"main": [[{"node": "Pass", "type": "main", "index": 0}]]}},
    }


async def _stop(server: ServerProcess) -> int:
    return await asyncio.to_thread(server.stop)


async def test_a_webhook_call_sends_its_trace_to_the_collector(
    tmp_path: Path, collector: tuple[Collector, str]
) -> None:
    found, endpoint = collector
    server = ServerProcess(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
    try:
        base_url = await asyncio.to_thread(server.base_url)
        async with server.async_client(timeout=20) as client:
            created = (await client.post(f"{API}/workflows", json=traced_webhook())).json()
            assert (await client.post(f"{API}/workflows/{created['id']}/activate")).status_code == 200
            answer = await client.post(f"{base_url}/webhook/traced", json={"n": 1})
            assert answer.status_code == 200, answer.text
            await asyncio.wait_for(found.executions.wait(), timeout=15)
        assert found.requests >= 1, server.log()
        assert found.services == {"relayflow-server"}
        spans = {s["name"]: s for s in found.spans}
        root = spans["execution traced hook"]
        # FastAPI traces the request itself: the execution is a child of the webhook call's span
        request = spans["POST /webhook/{path}"]
        assert (root["parent"], root["trace_id"]) == (request["span_id"], request["trace_id"])
        assert request["parent"] == ""
        assert root["attributes"]["relayflow.workflow.id"].string_value == created["id"]
        assert root["attributes"]["relayflow.execution.mode"].string_value == "webhook"
        assert root["attributes"]["relayflow.execution.status"].string_value == "succeeded"
        for node in ("Webhook", "Pass"):
            assert spans[f"node {node}"]["trace_id"] == root["trace_id"]
            assert spans[f"node {node}"]["parent"] == root["span_id"]
        assert await _stop(server) == 0
    finally:
        server.close()


LISTENING_JSON = re.compile(r"relayflow listening on (http://[0-9.:]+)")


async def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, RELAYFLOW_LOG_FORMAT="json")
    try:
        await asyncio.to_thread(server.wait_for, lambda: LISTENING_JSON.search(server.log()))
        assert await _stop(server) == 0
        lines = [json.loads(line) for line in server.lines if line.strip()]
        assert lines, server.log()
        assert all({"timestamp", "level", "logger", "message"} <= set(line) for line in lines)
        messages = [line["message"] for line in lines]
        assert any(m.startswith("relayflow listening on http://") for m in messages)
        # uvicorn's own records go through the same handler
        assert any(line["logger"].startswith("uvicorn") for line in lines), messages
    finally:
        server.close()
