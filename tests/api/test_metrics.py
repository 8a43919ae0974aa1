"""GET /metrics: runs through the API and webhooks move the counters and histograms, scraped and
parsed as Prometheus does."""

from __future__ import annotations

import asyncio
import copy

import httpx
from prometheus_client.parser import text_string_to_metric_families

from relayflow.api import ApiServices, build_services, create_app
from relayflow.api.services import RunTracker
from relayflow.engine.run import ExecutionRecord
from relayflow.metrics import Metrics, package_version, status_class
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from tests.api.conftest import API, SLOW, eventually, hello, owner_key
from tests.api.test_webhooks import activate, hook_workflow

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def parse(text: str) -> Scrape:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: Scrape, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent, as for an unseen label set)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def run_hello(client: httpx.AsyncClient) -> None:
    created = await client.post(f"{API}/workflows", json=hello())
    workflow_id = created.json()["id"]
    response = await client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True})
    assert response.status_code == 200, response.text


async def test_a_run_counts_the_execution_and_times_its_nodes_by_type(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    assert value(before, "relayflow_build_info", version=package_version()) == 1
    assert value(before, "relayflow_executions_in_flight") == 0

    await run_hello(client)
    await run_hello(client)

    after = await eventually(
        lambda: scrape(client),
        lambda s: value(s, "relayflow_node_duration_seconds_count", node_type="n8n-nodes-base.set") == 2,
    )
    assert value(after, "relayflow_executions_total", status="succeeded", mode="manual") == 2
    assert value(after, "relayflow_executions_total", status="failed", mode="manual") == 0
    assert value(after, "relayflow_execution_duration_seconds_count") == 2
    assert value(after, "relayflow_execution_duration_seconds_sum") > 0
    assert value(after, "relayflow_execution_duration_seconds_bucket", le="+Inf") == 2
    trigger = "n8n-nodes-base.manualTrigger"
    assert value(after, "relayflow_node_duration_seconds_count", node_type=trigger) == 2
    # bounded labels: by node type only, never the node's or the workflow's name
    node_labels = {labels for name, labels in after if name == "relayflow_node_duration_seconds_count"}
    assert node_labels == {
        frozenset({("node_type", trigger)}),
        frozenset({("node_type", "n8n-nodes-base.set")}),
    }
    assert value(after, "relayflow_executions_in_flight") == 0


async def test_webhooks_are_timed_by_status_class(client: httpx.AsyncClient) -> None:
    await activate(client, hook_workflow())
    assert (await client.post("/webhook/hello", json={"name": "Ada"})).status_code == 200
    assert (await client.post("/webhook/hello", json={"name": "Bo"})).status_code == 200
    assert (await client.post("/webhook/nowhere", json={})).status_code == 404
    assert (await client.get("/webhook/hello")).status_code == 405

    scraped = await eventually(
        lambda: scrape(client),
        lambda s: value(s, "relayflow_node_duration_seconds_count", node_type="n8n-nodes-base.webhook") == 2,
    )
    name = "relayflow_webhook_request_duration_seconds"
    assert value(scraped, f"{name}_count", status_class="2xx") == 2
    assert value(scraped, f"{name}_count", status_class="4xx") == 2
    assert value(scraped, f"{name}_count", status_class="5xx") == 0
    assert value(scraped, f"{name}_sum", status_class="2xx") > 0
    assert value(scraped, "relayflow_executions_total", status="succeeded", mode="webhook") == 2
    assert value(scraped, "relayflow_node_duration_seconds_count", node_type="n8n-nodes-base.set") == 2


async def test_in_flight_rises_while_running_and_returns_to_zero(client: httpx.AsyncClient) -> None:
    created = await client.post(f"{API}/workflows", json=copy.deepcopy(SLOW))
    started = await client.post(f"{API}/workflows/{created.json()['id']}/run", json={})
    assert started.status_code == 202, started.text
    running = await scrape(client)
    assert value(running, "relayflow_executions_in_flight") == 1
    assert value(running, "relayflow_executions_total", status="cancelled", mode="manual") == 0

    stopped = await client.post(f"{API}/executions/{started.json()['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    done = await scrape(client)
    assert value(done, "relayflow_executions_in_flight") == 0
    assert value(done, "relayflow_executions_total", status="cancelled", mode="manual") == 1


async def test_two_apps_in_one_process_keep_their_own_metrics() -> None:
    apps = [create_app(build_services(MemoryWorkflowStore(), MemoryExecutionStore())) for _ in range(2)]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://relayflow.test",
            headers={"X-API-Key": await owner_key(app.state.services)},
        )
        for app in apps
    ]
    async with clients[0] as first, clients[1] as second:
        await run_hello(first)
        counted = [
            value(await scrape(c), "relayflow_executions_total", status="succeeded", mode="manual")
            for c in (first, second)
        ]
        assert counted == [1, 0]
    for app in apps:
        services: ApiServices = app.state.services
        await services.runs.drain(0.0, services.engine)
        if services.engine.expressions is not None:
            services.engine.expressions.close()


def test_unpaired_ends_and_crashes_are_counted_once() -> None:
    metrics = Metrics()
    metrics.execution_finished("x1", "failed")
    scraped = parse(metrics.exposition().decode())
    assert value(scraped, "relayflow_executions_total", status="failed", mode="unknown") == 1
    assert value(scraped, "relayflow_execution_duration_seconds_count") == 0
    metrics.execution_started("x2", "webhook")
    assert value(parse(metrics.exposition().decode()), "relayflow_executions_in_flight") == 1
    metrics.execution_crashed("x2")
    metrics.execution_crashed("x2")  # counted once
    scraped = parse(metrics.exposition().decode())
    assert value(scraped, "relayflow_executions_total", status="crashed", mode="webhook") == 1
    assert value(scraped, "relayflow_executions_in_flight") == 0
    assert [status_class(s) for s in (200, 302, 404, 503)] == ["2xx", "3xx", "4xx", "5xx"]


async def test_a_tracked_run_that_crashes_leaves_the_in_flight_gauge() -> None:
    tracker = RunTracker()
    go = asyncio.Event()

    async def crash() -> ExecutionRecord:
        tracker.emit("execution.started", {"executionId": "e1", "mode": "manual"})
        await go.wait()
        raise RuntimeError("the store went away")

    task = await tracker.start("e1", crash())
    assert value(parse(tracker.metrics.exposition().decode()), "relayflow_executions_in_flight") == 1
    go.set()
    await asyncio.wait([task])
    await asyncio.sleep(0)  # the done callbacks
    scraped = parse(tracker.metrics.exposition().decode())
    assert value(scraped, "relayflow_executions_in_flight") == 0
    assert value(scraped, "relayflow_executions_total", status="crashed", mode="manual") == 1
