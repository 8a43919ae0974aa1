"""JSON logs: one object per line, with the execution's ids while it runs; secrets scrubbed.
And the default: no observability module, no OpenTelemetry SDK loaded."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.engine.run import ExecutionStatus
from relayflow.engine.secrets_scrub import REDACTED, SecretSet
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry
from relayflow.nodes.spec import NodeSpec
from relayflow.observability.context import ContextSink
from relayflow.observability.logs import JsonFormatter, json_logs_requested
from relayflow.observability.tracing import TracingSink
from relayflow.testing import make_engine
from relayflow.workflow.parse import parse_workflow
from tests.unit.engine.testnodes import TEST_SPECS, P, wf

NODE_LOG = logging.getLogger("relayflow.node.observability-test")


async def _log(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    NODE_LOG.info("node %s has %d item(s)", ctx.node_name, len(items))
    return [items]


LOG_SPEC = NodeSpec(
    type="test.log", version=1, title="log", group="core", description="log", params=P, execute=_log
)
REGISTRY = Registry((*BUILTIN_SPECS, *TEST_SPECS, LOG_SPEC))


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    NODE_LOG.addHandler(handler)
    NODE_LOG.setLevel(logging.INFO)
    try:
        yield out
    finally:
        NODE_LOG.removeHandler(handler)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def logging_workflow() -> dict[str, Any]:
    return wf([{"name": "L", "type": "test.log"}], [("T", "L")], name="logs", id="wf-logs")


async def test_json_lines_carry_the_execution_while_it_runs(lines: io.StringIO) -> None:
    NODE_LOG.info("before")
    rec = await make_engine(registry=REGISTRY, events=ContextSink()).run(
        parse_workflow(logging_workflow(), registry=REGISTRY), input_items=[{"json": {}}] * 3
    )
    NODE_LOG.warning("after")
    assert rec.status is ExecutionStatus.SUCCEEDED
    before, inside, after = parsed(lines)
    assert set(before) == {"timestamp", "level", "logger", "message"}
    assert before["timestamp"].endswith("+00:00") and before["level"] == "INFO"
    assert inside["message"] == "node L has 3 item(s)"
    assert inside["logger"] == "relayflow.node.observability-test"
    assert (inside["execution_id"], inside["workflow_id"], inside["node"]) == (rec.id, "wf-logs", "L")
    assert "trace_id" not in inside  # no tracing: no trace ids
    assert after["level"] == "WARNING" and "execution_id" not in after


async def test_with_tracing_the_lines_carry_the_trace_and_node_span(lines: io.StringIO) -> None:
    provider = TracerProvider()
    rec = await make_engine(registry=REGISTRY, events=TracingSink(tracer=provider.get_tracer("t"))).run(
        parse_workflow(logging_workflow(), registry=REGISTRY)
    )
    (inside,) = parsed(lines)
    assert inside["execution_id"] == rec.id
    assert len(inside["trace_id"]) == 32 and len(inside["span_id"]) == 16
    assert int(inside["trace_id"], 16) != 0


def test_a_secret_is_scrubbed_in_json_lines_too(lines: io.StringIO) -> None:
    secret = "sk-live-0123456789abcdef"
    held = SecretSet()  # an execution holding the secret
    held.add([secret])
    NODE_LOG.info("calling with token %s", secret)
    try:
        raise ValueError(f"rejected {secret}")
    except ValueError:
        NODE_LOG.exception("failed")
    text = lines.getvalue()
    assert secret not in text
    first, second = parsed(lines)
    assert first["message"] == f"calling with token {REDACTED}"
    assert "ValueError: rejected " + REDACTED in second["exception"]
    del held


def test_json_is_asked_for_by_the_environment() -> None:
    assert json_logs_requested({"RELAYFLOW_LOG_FORMAT": "JSON"})
    assert not json_logs_requested({})
    assert not json_logs_requested({"RELAYFLOW_LOG_FORMAT": "plain"})


DEFAULT_START = """
import sys
from relayflow.api import build_services
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
services = build_services(MemoryWorkflowStore(), MemoryExecutionStore())
print(type(services.runs.downstream).__name__)
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "relayflow.observability"))))
"""


def _start(**env: str) -> list[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "RELAYFLOW_TRACING", "RELAYFLOW_LOG"))
    }
    done = subprocess.run(
        [sys.executable, "-c", DEFAULT_START],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_by_default_nothing_is_loaded() -> None:
    assert _start() == ["NoneType", "[]"]


def test_the_environment_turns_them_on() -> None:
    downstream, modules = _start(RELAYFLOW_LOG_FORMAT="json")
    assert downstream == "ContextSink" and "opentelemetry.sdk" not in modules
    downstream, modules = _start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert downstream == "TracingSink" and "'opentelemetry.sdk.trace'" in modules
    downstream, _ = _start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true")
    assert downstream == "NoneType"
