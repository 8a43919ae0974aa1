"""OpenTelemetry traces: an execution is a trace, each node run a span.

``TracingSink`` is an engine ``EventSink`` (put it downstream of the API's ``RunTracker``) that
turns the engine's events into spans: ``execution <workflow name>`` from ``execution.started``
to ``execution.finished`` (or ``execution.waiting``), a child ``node <name>`` span per node run.
A waited-for sub-workflow's execution span is a child of the node that called it; an
execution started under a context carried in a job's headers (``continued``) continues that
trace. Spans end however the execution ends: an execution cancelled with its nodes running
ends their spans as cancelled; one whose task crashed before its end event ends as crashed.

``inject`` / ``extract`` carry the W3C ``traceparent`` (and ``tracestate``) in
``relayflow.cluster.ports.Job.headers``, so a worker continues the trace of the process that
queued the job.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``RELAYFLOW_TRACING=1`` with the standard ``OTEL_*`` variables) is set; the OpenTelemetry SDK
and exporter are imported only then (``setup_tracing``), the API only by the functions that use
it. Spans are exported in batches over OTLP/HTTP, under ``service.name`` ``relayflow-<role>``
(``OTEL_SERVICE_NAME`` wins).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from relayflow.engine.ports import EventSink
from relayflow.observability.context import ContextSink, LogContext, OpenRun

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("relayflow.observability.tracing")

TRACER_NAME = "relayflow"
_TRUE = {"1", "true", "yes", "on"}
# the tracer of setup_tracing (None: tracing is off in this process)
_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def tracing_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (without importing OpenTelemetry)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    if env.get("RELAYFLOW_TRACING", "").strip().lower() in _TRUE:
        return True
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup_tracing(
    role: str = "server",
    *,
    exporter: SpanExporter | None = None,
    batch: bool = True,
    install_global: bool = True,
) -> TracerProvider:
    """Make this process's tracer provider: ``service.name`` ``relayflow-<role>``, spans sent in
    batches to ``exporter`` (default: OTLP/HTTP, configured by the ``OTEL_EXPORTER_OTLP_*``
    variables). ``install_global`` makes it OpenTelemetry's global provider (once per process)."""
    global _tracer
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    name = os.environ.get("OTEL_SERVICE_NAME") or f"relayflow-{role}"
    provider = TracerProvider(resource=Resource.create({"service.name": name, "relayflow.role": role}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    if install_global:
        trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer(TRACER_NAME)
    return provider


def ensure_tracing(role: str = "server") -> None:
    """``setup_tracing`` once per process (the first caller's role names the service)."""
    global _provider
    if _provider is None:
        _provider = setup_tracing(role)


def shutdown_tracing(provider: TracerProvider | None = None) -> None:
    """Flush what is batched and stop exporting (at the end of a process): ``provider``, or
    the one ``ensure_tracing`` made."""
    global _tracer, _provider
    if provider is None:
        provider, _provider = _provider, None
    if provider is None:
        return
    _tracer = None
    try:
        provider.shutdown()
    except Exception:  # an unreachable collector must not stop the shutdown
        log.warning("tracing: the span exporter did not shut down cleanly", exc_info=True)


def _trace_ids(span: Span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class TracingSink(ContextSink):
    """Engine events to spans (and to the log context, with trace and span ids)."""

    def __init__(self, downstream: EventSink | None = None, *, tracer: Tracer | None = None) -> None:
        super().__init__(downstream)
        if tracer is None:
            from opentelemetry import trace

            tracer = _tracer or trace.get_tracer(TRACER_NAME)
        self.tracer = tracer

    def open_execution(self, run: OpenRun) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        data, outer = run.data, run.outer
        parent: Context | None = None
        if outer is not None and outer.node is not None:
            # a waited-for sub-workflow: its span is a child of the calling node's
            caller = self.runs.get(outer.execution_id)
            if caller is not None:
                node_span = next((s for (n, _), s in reversed(caller.nodes.items()) if n == outer.node), None)
                if node_span is not None:
                    parent = trace.set_span_in_context(node_span)
        if parent is None:
            parent = otel_context.get_current()  # a context carried in a job's headers, or none
        name = str(data.get("workflowName") or data.get("workflowId") or "")
        attributes = {
            "relayflow.execution.id": run.context.execution_id,
            "relayflow.execution.mode": str(data.get("mode")),
        }
        if run.context.workflow_id is not None:
            attributes["relayflow.workflow.id"] = run.context.workflow_id
        if name:
            attributes["relayflow.workflow.name"] = name
        span = self.tracer.start_span(f"execution {name}".rstrip(), context=parent, attributes=attributes)
        run.span = span
        trace_id, span_id = _trace_ids(span)
        run.context = LogContext(run.context.execution_id, run.context.workflow_id, None, trace_id, span_id)
        # so what runs inside (an HTTP client's instrumentation, ``inject``) sees the span
        run.token = otel_context.attach(trace.set_span_in_context(span))

    def open_node(self, run: OpenRun, data: Mapping[str, Any], ctx: LogContext) -> LogContext:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        if run.span is None:
            return ctx
        name, index = str(data.get("node")), int(data.get("runIndex") or 0)
        span = self.tracer.start_span(
            f"node {name}",
            context=trace.set_span_in_context(run.span),
            attributes={
                "relayflow.execution.id": run.context.execution_id,
                "relayflow.node.name": name,
                "relayflow.node.run_index": index,
            },
        )
        run.nodes[(name, index)] = span
        # in the node's own task: gone with it
        otel_context.attach(trace.set_span_in_context(span))
        trace_id, span_id = _trace_ids(span)
        return replace_ids(ctx, trace_id, span_id)

    def close_node(self, run: OpenRun, data: Mapping[str, Any]) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = run.nodes.pop((str(data.get("node")), int(data.get("runIndex") or 0)), None)
        if span is None:
            return
        status = str(data.get("status") or "waiting")
        span.set_attribute("relayflow.node.status", status)
        if data.get("type") is not None:
            span.set_attribute("relayflow.node.type", str(data["type"]))
        for key, attr in (("itemsIn", "relayflow.node.items_in"), ("itemsOut", "relayflow.node.items_out")):
            counts = data.get(key)
            if isinstance(counts, list):
                span.set_attribute(attr, sum(int(c) for c in counts))
                span.set_attribute(f"{attr}_per_connection", [int(c) for c in counts])
        error = data.get("error")
        if error:
            message = _message(error)
            span.set_attribute("relayflow.node.error", message)
            span.add_event("exception", {"exception.message": message, "exception.type": _kind(error)})
        if status in ("failed", "continued"):
            span.set_status(Status(StatusCode.ERROR, _message(error) if error else status))
        elif status in ("succeeded", "pinned", "disabled"):
            span.set_status(Status(StatusCode.OK))
        span.end()

    def node_retry(self, run: OpenRun, data: Mapping[str, Any]) -> None:
        span = run.nodes.get((str(data.get("node")), _running_index(run, str(data.get("node")))))
        if span is not None:
            span.add_event(
                "retry", {"attempt": int(data.get("attempt") or 0), "wait_ms": float(data.get("waitMs") or 0)}
            )

    def close_execution(self, run: OpenRun, status: str, error: Any) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        for span in run.nodes.values():  # node runs cut off by a cancel or a crash
            span.set_attribute("relayflow.node.status", "cancelled" if status != "crashed" else "crashed")
            span.end()
        run.nodes.clear()
        span = run.span
        if span is None:
            return
        span.set_attribute("relayflow.execution.status", status)
        if error:
            span.set_attribute("relayflow.execution.error", _message(error))
        if status in ("failed", "crashed"):
            span.set_status(Status(StatusCode.ERROR, _message(error) if error else status))
        elif status == "succeeded":
            span.set_status(Status(StatusCode.OK))
        # a crashed run is closed from elsewhere (its task's end): its context is not this one
        if run.token is not None and status != "crashed" and trace.get_current_span() is span:
            otel_context.detach(run.token)
        span.end()


def replace_ids(ctx: LogContext, trace_id: str, span_id: str) -> LogContext:
    return LogContext(ctx.execution_id, ctx.workflow_id, ctx.node, trace_id, span_id)


def _running_index(run: OpenRun, node: str) -> int:
    indexes = [i for (n, i) in run.nodes if n == node]
    return max(indexes) if indexes else 0


def _message(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("description") or error)
    return str(error)


def _kind(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("name") or error.get("code") or "NodeError")
    return type(error).__name__


# --- across the queue ------------------------------------------------------------------------


def inject(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus the W3C trace context of the current span (for ``Job.headers``);
    unchanged when tracing is off or nothing is being traced."""
    out = dict(headers or {})
    if _tracer is None and not _api_loaded():
        return out
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(out)
    return out


def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The trace context carried in ``headers`` (None when there is none)."""
    if not headers or "traceparent" not in headers:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    ctx = TraceContextTextMapPropagator().extract(dict(headers))
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


@contextmanager
def continued(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block (a worker's ``engine.run`` of a job) in the trace ``headers`` carry."""
    ctx = extract(headers)
    if ctx is None:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None) -> Iterator[Any]:
    """A span around the block when tracing is on (a webhook call that queues a job: its
    ``inject`` then carries this span); nothing otherwise."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=dict(attributes or {})) as s:
        yield s


def _api_loaded() -> bool:
    import sys

    return "opentelemetry.trace" in sys.modules
