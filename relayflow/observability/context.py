"""What the running code is part of: the execution, workflow and node (and, when tracing, the
trace and span), kept in a context variable the JSON log formatter reads.

``ContextSink`` is an engine ``EventSink`` that sets it from the engine's events:
``execution.started`` in the execution's task (node tasks, created after it, inherit it),
``node.started`` in the node's own task; ``execution.finished`` / ``execution.waiting`` put
back what was there before. An execution that never says it finished (its store raised, its
task crashed) is closed when its task ends, or when the same task starts another execution.
``relayflow.observability.tracing.TracingSink`` extends it with spans.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from relayflow.engine.ports import EventSink

log = logging.getLogger("relayflow.observability")


@dataclass(frozen=True, slots=True)
class LogContext:
    execution_id: str
    workflow_id: str | None = None
    node: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


current: ContextVar[LogContext | None] = ContextVar("relayflow_log_context", default=None)


@dataclass(slots=True)
class OpenRun:
    """An execution between its start and its end, as this sink sees it."""

    context: LogContext
    # the context in force before the execution started (put back at its end)
    outer: LogContext | None
    data: Mapping[str, Any]
    # tracing: the execution's span and its running nodes' spans by (node, run index)
    span: Any = None
    token: Any = None
    nodes: dict[tuple[str, int], Any] = field(default_factory=dict)


class ContextSink:
    """Sets ``current`` from engine events, then passes every event on to ``downstream``.
    Never raises: a fault here is logged and the event still goes on."""

    def __init__(self, downstream: EventSink | None = None) -> None:
        self.downstream = downstream
        self.runs: dict[str, OpenRun] = {}
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "execution.started": self._execution_started,
            "execution.finished": self._execution_finished,
            "execution.waiting": self._execution_waiting,
            "node.started": self._node_started,
            "node.finished": self._node_finished,
            "node.waiting": self._node_finished,
            "node.retry": self._node_retry,
        }

    def emit(self, event: str, data: Mapping[str, Any]) -> None:
        handler = self._handlers.get(event)
        if handler is not None:
            try:
                handler(data)
            except Exception:  # observability must never break an execution
                log.warning("observability: %s event not recorded", event, exc_info=True)
        if self.downstream is not None:
            self.downstream.emit(event, data)

    # --- hooks for subclasses (tracing) ---------------------------------------------------------
    def open_execution(self, run: OpenRun) -> None:
        """Called once the run is known; may replace ``run.context`` (trace ids)."""

    def open_node(self, run: OpenRun, data: Mapping[str, Any], ctx: LogContext) -> LogContext:
        return ctx

    def close_node(self, run: OpenRun, data: Mapping[str, Any]) -> None:
        """A node run ended (``node.finished`` or ``node.waiting``)."""

    def node_retry(self, run: OpenRun, data: Mapping[str, Any]) -> None:
        """A node run failed and will be tried again."""

    def close_execution(self, run: OpenRun, status: str, error: Any) -> None:
        """The execution ended (``status`` is ``crashed`` when it never said so)."""

    # --- events ---------------------------------------------------------------------------------
    def _execution_started(self, data: Mapping[str, Any]) -> None:
        execution_id = str(data.get("executionId"))
        outer = current.get()
        if outer is not None and outer.node is None:
            # an execution-level context here means that execution ended without saying so
            # (a waited-for sub-workflow starts from a node's context, never from this one)
            stale = self.runs.get(outer.execution_id)
            outer = stale.outer if stale is not None else None
            if stale is not None:
                self._close(stale.context.execution_id, "crashed", None, restore=False)
        wf = data.get("workflowId")
        run = OpenRun(
            context=LogContext(execution_id, str(wf) if wf is not None else None),
            outer=outer,
            data=data,
        )
        previous = self.runs.get(execution_id)
        if previous is not None:  # the same id again (a resume) while the old one is open
            self._close(execution_id, "crashed", None, restore=False)
        self.runs[execution_id] = run
        self.open_execution(run)
        current.set(run.context)
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop (a synchronous caller)
            task = None
        if task is not None:
            task.add_done_callback(lambda t: self._task_done(execution_id, run, t))

    def _task_done(self, execution_id: str, run: OpenRun, task: asyncio.Task[Any]) -> None:
        if self.runs.get(execution_id) is run:
            error = None
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                error = {"message": f"{type(exc).__name__}: {exc}"}
            self._close(execution_id, "crashed", error, restore=False)

    def _execution_finished(self, data: Mapping[str, Any]) -> None:
        self._close(str(data.get("executionId")), str(data.get("status")), data.get("error"))

    def _execution_waiting(self, data: Mapping[str, Any]) -> None:
        self._close(str(data.get("executionId")), "waiting", None)

    def _close(self, execution_id: str, status: str, error: Any, *, restore: bool = True) -> None:
        run = self.runs.pop(execution_id, None)
        if run is None:
            return
        try:
            self.close_execution(run, status, error)
        finally:
            if restore and (now := current.get()) is not None and now.execution_id == execution_id:
                current.set(run.outer)

    def _node_started(self, data: Mapping[str, Any]) -> None:
        run = self.runs.get(str(data.get("executionId")))
        if run is not None:
            current.set(self.open_node(run, data, replace(run.context, node=str(data.get("node")))))

    def _node_finished(self, data: Mapping[str, Any]) -> None:
        run = self.runs.get(str(data.get("executionId")))
        if run is not None:
            self.close_node(run, data)
            current.set(run.context)

    def _node_retry(self, data: Mapping[str, Any]) -> None:
        run = self.runs.get(str(data.get("executionId")))
        if run is not None:
            self.node_retry(run, data)
