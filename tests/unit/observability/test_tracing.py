"""Traces: an execution is a span with a child span per node run, in one trace; the trace goes
across a job's headers; spans end however the execution ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from relayflow.cluster.ports import Job
from relayflow.engine.executor import Engine
from relayflow.engine.memory import MemoryRunStore
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.observability.context import current
from relayflow.observability.tracing import (
    TracingSink,
    continued,
    extract,
    inject,
    setup_tracing,
    shutdown_tracing,
    span,
    tracing_configured,
)
from relayflow.testing import make_engine
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow
from tests.unit.engine.testnodes import STATE, registry, wf


def engine(**kw: Any) -> Engine:
    return make_engine(registry=registry(), **kw)


def parse(d: dict[str, Any]) -> Workflow:
    return parse_workflow(d, registry=registry())


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def sink(provider: TracerProvider) -> TracingSink:
    return TracingSink(tracer=provider.get_tracer("test"))


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    named = {s.name: s for s in spans}
    assert len(named) == len(spans), [s.name for s in spans]
    return named


def three_nodes() -> dict[str, Any]:
    """T → A → F (fails, continueOnFail) and T → B (a parallel branch)."""
    return wf(
        [
            {"name": "A", "type": "test.record"},
            {"name": "F", "type": "test.fail", "parameters": {"fail_times": 1}, "continueOnFail": True},
            {"name": "B", "type": "test.record"},
        ],
        [("T", "A"), ("A", "F"), ("T", "B")],
        name="traced",
        id="wf-1",
    )


async def test_an_execution_is_one_trace_with_a_child_span_per_node(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    rec = await engine(events=sink(provider)).run(
        parse(three_nodes()), input_items=[{"json": {"n": 1}}, {"json": {"n": 2}}], mode="webhook"
    )
    assert rec.status is ExecutionStatus.SUCCEEDED
    spans = by_name(exporter.get_finished_spans())
    assert set(spans) == {"execution traced", "node T", "node A", "node F", "node B"}
    root = spans["execution traced"]
    assert root.parent is None
    assert root.attributes is not None
    assert dict(root.attributes) == {
        "relayflow.execution.id": rec.id,
        "relayflow.execution.mode": "webhook",
        "relayflow.workflow.id": "wf-1",
        "relayflow.workflow.name": "traced",
        "relayflow.execution.status": "succeeded",
    }
    assert root.status.status_code is StatusCode.OK
    trace_ids = {s.context.trace_id for s in spans.values() if s.context is not None}
    assert len(trace_ids) == 1
    for name in "TAFB":
        node = spans[f"node {name}"]
        assert node.parent is not None and root.context is not None
        assert node.parent.span_id == root.context.span_id, name
        assert node.attributes is not None
        assert node.attributes["relayflow.node.name"] == name
        assert node.attributes["relayflow.node.run_index"] == 0
        assert node.end_time is not None and root.end_time is not None and node.end_time <= root.end_time
    a = spans["node A"].attributes
    assert a is not None
    assert (a["relayflow.node.type"], a["relayflow.node.status"]) == ("test.record", "succeeded")
    assert (a["relayflow.node.items_in"], a["relayflow.node.items_out"]) == (2, 2)
    assert spans["node A"].status.status_code is StatusCode.OK
    failed = spans["node F"]
    assert failed.attributes is not None
    assert failed.attributes["relayflow.node.status"] == "continued"
    assert failed.attributes["relayflow.node.error"] == "failure 1"
    assert failed.attributes["relayflow.node.items_out"] == 1  # the error item
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    # the parallel branch is a sibling of the first, not its child
    assert spans["node B"].attributes is not None
    assert spans["node B"].attributes["relayflow.node.status"] == "succeeded"


async def test_a_failed_execution_is_an_error_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    d = wf([{"name": "F", "type": "test.fail", "parameters": {"fail_times": 1}}], [("T", "F")], name="bad")
    rec = await engine(events=sink(provider)).run(parse(d))
    assert rec.status is ExecutionStatus.FAILED
    spans = by_name(exporter.get_finished_spans())
    root = spans["execution bad"]
    assert root.status.status_code is StatusCode.ERROR and root.status.description == "failure 1"
    assert root.attributes is not None and root.attributes["relayflow.execution.status"] == "failed"
    assert spans["node F"].status.status_code is StatusCode.ERROR


async def test_a_cancelled_execution_ends_its_running_node_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    d = wf([{"name": "Block", "type": "test.block"}], [("T", "Block")], name="slow")
    eng = engine(events=sink(provider))
    task = asyncio.create_task(eng.run(parse(d), execution_id="c1"))
    for _ in range(500):  # until the node runs (test.block records its start)
        if "Block" in STATE.get("started", []):
            break
        await asyncio.sleep(0.01)
    assert eng.cancel("c1")
    rec = await task
    assert rec.status is ExecutionStatus.CANCELLED
    spans = by_name(exporter.get_finished_spans())
    assert spans["execution slow"].attributes is not None
    assert spans["execution slow"].attributes["relayflow.execution.status"] == "cancelled"
    assert spans["node Block"].attributes is not None
    assert spans["node Block"].attributes["relayflow.node.status"] == "cancelled"


class CrashingStore(MemoryRunStore):
    async def execution_finished(self, record: ExecutionRecord) -> None:
        raise RuntimeError("database gone")


async def test_an_execution_whose_task_crashes_still_ends_its_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    d = wf([{"name": "A", "type": "test.record"}], [("T", "A")], name="crash")
    task = asyncio.create_task(engine(events=sink(provider), store=CrashingStore()).run(parse(d)))
    with pytest.raises(RuntimeError, match="database gone"):
        await task
    await asyncio.sleep(0)  # the task's done callbacks
    root = by_name(exporter.get_finished_spans())["execution crash"]
    assert root.attributes is not None and root.attributes["relayflow.execution.status"] == "crashed"
    assert root.status.status_code is StatusCode.ERROR
    assert "database gone" in str(root.status.description)


async def test_a_sub_workflow_is_a_child_of_the_node_that_called_it(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    child = wf([{"name": "Inner", "type": "test.record"}], [("T", "Inner")], name="child")
    child["nodes"][0]["name"] = "Start"  # node names unique across both workflows
    child["connections"] = {"Start": child["connections"].pop("T")}
    parent = wf(
        [
            {
                "name": "Call",
                "type": "n8n-nodes-base.executeWorkflow",
                "typeVersion": 1,
                "parameters": {"source": "parameter", "workflowJson": child},
            }
        ],
        [("T", "Call")],
        name="parent",
    )
    rec = await engine(events=sink(provider)).run(parse(parent))
    assert rec.status is ExecutionStatus.SUCCEEDED, rec.error
    spans = by_name(exporter.get_finished_spans())
    call, sub = spans["node Call"], spans["execution child"]
    assert sub.parent is not None and call.context is not None
    assert sub.parent.span_id == call.context.span_id
    assert sub.context is not None and sub.context.trace_id == call.context.trace_id
    inner = spans["node Inner"]
    assert inner.parent is not None and inner.parent.span_id == sub.context.span_id
    assert current.get() is None  # nothing left behind in the caller's context


async def test_a_worker_continues_the_trace_carried_in_a_jobs_headers(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("webhook")
    with tracer.start_as_current_span("webhook POST /hook") as webhook:
        job = Job(execution_id="e-42", workflow_id="wf-1", headers=inject({"idempotency-key": "k"}))
    assert job.headers["idempotency-key"] == "k"
    assert job.headers["traceparent"].split("-")[1] == format(webhook.get_span_context().trace_id, "032x")
    remote = extract(job.headers)
    assert remote is not None
    # the worker: the execution of the job, in the job's trace
    d = wf([{"name": "A", "type": "test.record"}], [("T", "A")], name="queued")
    with continued(job.headers):
        await engine(events=sink(provider)).run(parse(d), execution_id=job.execution_id)
    spans = by_name(exporter.get_finished_spans())
    root = spans["execution queued"]
    assert root.context is not None and root.parent is not None
    assert root.context.trace_id == webhook.get_span_context().trace_id
    assert root.parent.span_id == webhook.get_span_context().span_id
    assert root.parent.is_remote


def test_no_trace_context_means_nothing_to_extract() -> None:
    assert extract({}) is None
    assert extract({"traceparent": "garbage"}) is None
    assert inject({"a": "b"}) == {"a": "b"}  # no current span: unchanged


def test_setup_names_the_service_by_role_and_span_carries_into_inject(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    made = setup_tracing("webhook", exporter=exporter, batch=False, install_global=False)
    try:
        with span("webhook POST /hook", {"http.route": "/webhook/{path}"}) as s:
            headers = inject()
        assert s is not None
        assert headers["traceparent"].split("-")[2] == format(s.get_span_context().span_id, "016x")
    finally:
        shutdown_tracing(made)
    (done,) = exporter.get_finished_spans()
    assert done.resource.attributes["service.name"] == "relayflow-webhook"
    with span("not traced") as off:  # after the shutdown: off again
        assert off is None


def test_the_environment_decides_whether_to_trace() -> None:
    assert not tracing_configured({})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert tracing_configured({"RELAYFLOW_TRACING": "1"})
    assert not tracing_configured({"RELAYFLOW_TRACING": "0"})
    assert not tracing_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing_configured({"RELAYFLOW_TRACING": "1", "OTEL_TRACES_EXPORTER": "none"})
