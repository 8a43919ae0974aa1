"""The executor: runs a workflow graph, node by node, as soon as each node's inputs are ready.

Independent branches run concurrently (bounded by ``settings.maxConcurrency``) unless the
workflow asks for ``executionOrder: "sequential"`` (one node at a time, depth first, n8n's v1
order). A node with several inputs runs when every connected input holds data; if the run goes
idle while it still waits, it runs with what it has (n8n's rule for Merge after an IF).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from relayflow.engine.context import NodeContext
from relayflow.engine.error_workflow import run_error_workflow
from relayflow.engine.expression import ExpressionEngine, NodeRunView
from relayflow.engine.graph import Graph, GraphNode, build_graph
from relayflow.engine.items import Items, NodeOutput, normalize_items
from relayflow.engine.memory import MemoryBinaryStore
from relayflow.engine.outputs import concat, error_dict, input_width, normalize_outputs, output_width
from relayflow.engine.ports import (
    BinaryStore,
    Clock,
    CredentialVault,
    EventSink,
    RunStore,
    StaticDataStore,
    WorkflowLoader,
)
from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun, NodeRunStatus, Park, Source
from relayflow.engine.state import Execution, Failure, Pending, Ready
from relayflow.engine.static_data import StaticData
from relayflow.errors import (
    ExecutionCancelled,
    ExecutionTimeout,
    NodeError,
    NodeTimeout,
    RelayflowError,
    UserError,
)
from relayflow.nodes.registry import Registry
from relayflow.workflow.model import Workflow

log = logging.getLogger("relayflow.engine")

MAX_SUBWORKFLOW_DEPTH = 16
# Node runs over this many input items run with Python's cyclic GC paused (see _gc_paused).
GC_PAUSE_MIN_ITEMS = 10_000
_gc_pauses = 0


@contextlib.contextmanager
def _gc_paused(active: bool) -> Iterator[None]:
    """Pause the cyclic garbage collector while a big node run allocates millions of dicts.

    Items are acyclic (dicts of JSON values), so reference counting frees them; the cyclic
    collector would only rescan them again and again (it costs a third of S10's time). Reentrant
    across concurrent node runs: the collector comes back when the last one ends.
    """
    global _gc_pauses
    if not active:
        yield
        return
    if _gc_pauses == 0 and not gc.isenabled():
        yield  # someone else disabled it: leave it alone
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


MAX_NODE_RUNS = 100_000
# workflows whose graphs stay built (a scheduler firing 1,000 workflows each second needs them all)
GRAPH_CACHE_SIZE = 4096


@dataclass
class EngineServices:
    store: RunStore
    clock: Clock
    registry: Registry
    expressions: ExpressionEngine | None = None
    events: EventSink | None = None
    workflows: WorkflowLoader | None = None
    credentials: CredentialVault | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    # None refuses $env (the default); a mapping is what $env exposes
    env: Mapping[str, str] | None = None
    base_url: str = "http://127.0.0.1:5678"
    # keep node outputs in the run record (per-node history)
    save_node_output: bool = True
    http: Any = None
    # the server's pending webhook answers, keyed by execution id (Respond to Webhook fills them)
    webhook_responses: Any = None
    # nodes may park the execution (status waiting, resumed later by the server); when False a
    # Wait node sleeps in process and cannot wait for a call
    durable_waits: bool = False
    # under durable waits, shorter waits still sleep in process (parking costs writes and a replay)
    wait_park_after_s: float = 1.0
    # keeps the static data that production (not manual) executions change; None: not kept
    static_data: StaticDataStore | None = None
    # where binary item data lies (the server's is on disk under RELAYFLOW_HOME)
    binary: BinaryStore = field(default_factory=MemoryBinaryStore)


class Engine:
    """Runs workflows against the ports in ``services``."""

    def __init__(self, services: EngineServices) -> None:
        self.services = services
        # id(Workflow) → (that Workflow, its graph); least recently run first
        self._graphs: OrderedDict[int, tuple[Workflow, Graph]] = OrderedDict()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._cancel_requested: set[str] = set()
        # sub-workflows started without waiting: kept so they are not garbage-collected
        self._detached: set[asyncio.Task[Any]] = set()
        # workflows' static data, one dict per workflow id in this process (static_data.py)
        self.static = StaticData(services)

    @property
    def expressions(self) -> ExpressionEngine | None:
        return self.services.expressions

    def graph(self, wf: Workflow) -> Graph:
        """The graph of ``wf`` (with its parameter plans), built once per Workflow object while
        it is among the ``GRAPH_CACHE_SIZE`` most recently run."""
        key = id(wf)
        cached = self._graphs.get(key)
        if cached is not None and cached[0] is wf:
            self._graphs.move_to_end(key)
            return cached[1]
        g = build_graph(wf, self.services.registry)
        self._graphs[key] = (wf, g)
        if len(self._graphs) > GRAPH_CACHE_SIZE:
            self._graphs.popitem(last=False)
        return g

    def cancel(self, execution_id: str) -> bool:
        task = self._running.get(execution_id)
        if task is None or task.done():
            return False
        self._cancel_requested.add(execution_id)
        task.cancel()
        return True

    def _emit(self, event: str, data: Mapping[str, Any]) -> None:
        if self.services.events is not None:
            self.services.events.emit(event, data)

    # ------------------------------------------------------------------------------------------
    async def run(
        self,
        workflow: Workflow,
        *,
        input_items: Items | None = None,
        mode: str = "manual",
        start_node: str | None = None,
        execution_id: str | None = None,
        pin_data: Mapping[str, Any] | None = None,
        resume: ExecutionRecord | None = None,
        retry_of: str | None = None,
        resume_state: Mapping[str, Mapping[str, Any]] | None = None,
        _depth: int = 0,
        _parent: Execution | None = None,
    ) -> ExecutionRecord:
        """Run ``workflow`` from ``start_node`` (its first trigger by default) with ``input_items``.

        ``resume`` continues from that record's finished node runs (they do not run again): under
        a new ``execution_id`` for a retry, under the record's own id to continue a parked
        execution, with ``resume_state`` telling each parked node what resumed it.
        """
        graph = self.graph(workflow)
        await self.static.seed(workflow)
        continuing = resume is not None and execution_id == resume.id
        record = ExecutionRecord(
            id=execution_id or uuid.uuid4().hex,
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            mode=mode,
            status=ExecutionStatus.RUNNING,
            started_at=resume.started_at if resume is not None and continuing else self.services.clock.now(),
            retry_of=retry_of,
            settings=workflow.settings.model_extra or {},
            workflow_version=_version_of(workflow),
        )
        pins = dict(workflow.pinData or {}) if mode == "manual" else {}
        pins.update(pin_data or {})
        ex = Execution(
            self, graph, record, pin_data=pins, depth=_depth, parent=_parent, resume_state=resume_state
        )
        items = input_items if input_items is not None else [{"json": {}}]
        try:
            start: GraphNode | LookupError = graph.start_node(start_node)
        except LookupError as exc:
            start = exc
        if resume is not None and isinstance(start, GraphNode):
            # the finished runs are the checkpoint: in the record before its start is stored
            record.node_runs.extend(ex.replay(resume.node_runs, start.name, items, input_width))
        static_before = self.static.kept_snapshot(ex.static_data, mode, ex.depth)
        await self.services.store.execution_started(record)
        self._emit(
            "execution.started",
            {
                "executionId": record.id,
                "workflowId": workflow.id,
                "workflowName": workflow.name,
                "mode": mode,
            },
        )
        # a waited-for sub-workflow runs inside its parent's task: cancelling it means the parent
        task = asyncio.current_task() if _depth == 0 else None
        if task is not None:
            self._running[record.id] = task
        try:
            if isinstance(start, LookupError):
                raise start
            timeout = workflow.settings.timeout_s
            async with asyncio.timeout(timeout):
                await self._loop(ex, start, items, replayed=resume is not None)
            record.status = ExecutionStatus.WAITING if ex.parked else ExecutionStatus.SUCCEEDED
        except Failure as f:
            record.status = ExecutionStatus.FAILED
            record.error = error_dict(f.error, f.node)
        except TimeoutError:
            record.status = ExecutionStatus.FAILED
            record.error = ExecutionTimeout(
                f"the execution timed out after {workflow.settings.timeout_s:g} s"
            ).to_dict()
        except asyncio.CancelledError:
            record.status = ExecutionStatus.CANCELLED
            record.error = ExecutionCancelled("the execution was cancelled").to_dict()
            if record.id in self._cancel_requested and task is not None:
                # cancelled through Engine.cancel: end normally with the record
                self._cancel_requested.discard(record.id)
                task.uncancel()
            else:
                await self._finish(ex)
                raise
        except LookupError as exc:
            record.status = ExecutionStatus.FAILED
            record.error = UserError(str(exc), code="no_start_node").to_dict()
        finally:
            self._running.pop(record.id, None)
        await self.static.save_if_changed(workflow.id, ex.static_data, static_before)
        if record.status is ExecutionStatus.WAITING:
            await self._park(ex)
            return record
        await self._finish(ex)
        if record.status is ExecutionStatus.FAILED and mode != "error" and workflow.settings.errorWorkflow:
            self._detach(run_error_workflow(self, record, workflow))
        return record

    def _detach(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)

    async def wait_background(self) -> None:
        """Wait for detached work (error workflows, sub-workflows started without waiting)."""
        while self._detached:
            await asyncio.gather(*list(self._detached), return_exceptions=True)

    async def resume_parked(
        self, workflow: Workflow, record: ExecutionRecord, resume_state: Mapping[str, Mapping[str, Any]]
    ) -> ExecutionRecord:
        """Continue a parked (waiting) execution under its own id from its stored node runs."""
        first = record.node_runs[0] if record.node_runs else None
        return await self.run(
            workflow,
            input_items=list(first.output[0]) if first is not None and first.output else None,
            start_node=first.node if first is not None else None,
            mode=record.mode,
            execution_id=record.id,
            resume=record,
            retry_of=record.retry_of,
            resume_state=resume_state,
        )

    async def _park(self, ex: Execution) -> None:
        """Store a parked execution: status waiting, its parked nodes, the earliest timer."""
        rec = ex.record
        rec.waiting = list(ex.parked)
        times = [p.until for p in ex.parked_signals if p.until is not None]
        rec.wait_till = min(times) if times else None
        await self.services.store.execution_finished(rec)
        self._emit(
            "execution.waiting",
            {
                "executionId": rec.id,
                "workflowId": rec.workflow_id,
                "waitTill": rec.wait_till.isoformat() if rec.wait_till else None,
                "webhook": any(p.webhook is not None for p in ex.parked_signals),
            },
        )

    async def _finish(self, ex: Execution) -> None:
        rec = ex.record
        if rec.finished_at is not None:
            return
        rec.finished_at = self.services.clock.now()
        if ex.secrets is not None:
            rec.error = ex.secrets.scrub(rec.error)
        for name, runs in ex.views.items():
            if ex.graph.nodes[name].terminal:
                rec.result[name] = [list(concat(r.outputs[0] if r.outputs else [] for r in runs))]
        await self.services.store.execution_finished(rec)
        self._emit(
            "execution.finished",
            {"executionId": rec.id, "status": rec.status.value, "error": rec.error},
        )

    async def _loop(self, ex: Execution, start: GraphNode, items: Items, *, replayed: bool = False) -> None:
        if replayed:
            # continue from the state the replayed runs reached (Engine.run did the replay)
            ready = ex.ready_nodes()
        else:
            ready = Ready()
            ex.pending.setdefault(start.name, Pending()).push(0, items, Source("", 0, 0))
            ready.add(start.name)
        running: dict[asyncio.Task[tuple[GraphNode, int, NodeOutput | None]], str] = {}
        try:
            while True:
                while ready and len(running) < ex.max_concurrency:
                    name = ready.pop()
                    g = ex.graph.nodes[name]
                    pending = ex.pending[name]
                    inputs, sources = pending.pop(input_width(g))
                    if g is start and not ex.views.get(start.name):
                        sources = [None] * len(sources)
                    ex.node_runs += 1
                    if ex.node_runs > MAX_NODE_RUNS:
                        raise Failure(
                            name,
                            NodeError(
                                "too many node runs: is there an endless loop?", node=name, retryable=False
                            ),
                        )
                    run_index = len(ex.views.setdefault(name, []))
                    # reserve the run index so concurrent runs of the same node do not collide
                    ex.views[name].append(NodeRunView(outputs=[], source=[], inputs=inputs))
                    t = asyncio.create_task(self._run_node(ex, g, run_index, inputs, sources))
                    running[t] = name
                    # the node may have more queued data: it becomes ready again after this run
                    if pending.complete(len(g.connected_inputs) or 1):
                        ex._mark_ready(name, ready)
                if not running:
                    if ex.parked:
                        return  # the rest waits for the resume (a partial Merge must not run now)
                    candidate = ex.idle_candidate()
                    if candidate is None:
                        return
                    ready.add(candidate)
                    continue
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    running.pop(t)
                    g, run_index, outputs = t.result()  # raises Failure
                    if outputs is not None:  # None: the node parked
                        ex.deliver(g, run_index, outputs, ready)
        finally:
            for t in running:
                t.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    # ------------------------------------------------------------------------------------------
    async def _run_node(
        self, ex: Execution, g: GraphNode, run_index: int, inputs: list[Items], sources: list[Source | None]
    ) -> tuple[GraphNode, int, NodeOutput | None]:
        node = g.node
        spec = g.resolved.spec
        clock = self.services.clock
        run = NodeRun(
            node=g.name,
            run_index=run_index,
            status=NodeRunStatus.RUNNING,
            started_at=clock.now(),
            items_in=[len(i) for i in inputs],
            source=list(sources),
        )
        self._emit("node.started", {"executionId": ex.record.id, "node": g.name, "runIndex": run_index})
        outputs: NodeOutput
        failure: RelayflowError | None = None
        try:
            if g.name in ex.pin_data:
                outputs = [normalize_items(ex.pin_data[g.name])]
                run.status = NodeRunStatus.PINNED
            elif node.disabled:
                outputs = [inputs[0] if inputs else []]
                run.status = NodeRunStatus.DISABLED
            else:
                outputs = await self._execute_with_retries(ex, g, run, inputs, sources)
                if run.status is NodeRunStatus.RUNNING:
                    run.status = NodeRunStatus.SUCCEEDED
        except asyncio.CancelledError:
            run.status = NodeRunStatus.CANCELLED
            run.finished_at = clock.now()
            if ex.secrets is not None:
                run.logs = ex.secrets.scrub(run.logs)
            ex.record.node_runs.append(run)
            raise
        except Park as park:
            # not a run yet: on resume the node runs again (same run index) and is told why
            ex.park(g.name, run_index, park)
            self._emit("node.waiting", {"executionId": ex.record.id, "node": g.name, "runIndex": run_index})
            return g, run_index, None
        except RelayflowError as exc:
            failure = exc
            outputs = self._handle_failure(ex, g, run, inputs, exc)
        except Exception as exc:  # a bug in a node: still a node failure, named
            failure = NodeError(f"{type(exc).__name__}: {exc}", node=g.name, retryable=False)
            outputs = self._handle_failure(ex, g, run, inputs, failure)
        if spec.trigger and run.status is NodeRunStatus.SUCCEEDED and not outputs:
            outputs = [inputs[0] if inputs else []]
        if node.alwaysOutputData and not any(outputs):
            outputs = [[{"json": {}}], *outputs[1:]] if outputs else [[{"json": {}}]]
        if ex.secrets is not None:
            # X6: neither the record nor the next nodes see a credential this execution used
            outputs = ex.secrets.scrub_run(run, outputs)
        run.finished_at = clock.now()
        run.items_out = [len(o) for o in outputs]
        if self.services.save_node_output:
            run.output = outputs
        view = NodeRunView(
            outputs=outputs,
            source=[(s.node, s.output, s.run) if s else None for s in sources],
            inputs=inputs,
        )
        ex.views[g.name][run_index] = view
        ex.record.node_runs.append(run)
        ex.record.last_node = g.name
        await self.services.store.node_run_finished(ex.record, run)
        self._emit(
            "node.finished",
            {
                "executionId": ex.record.id,
                "node": g.name,
                "runIndex": run_index,
                "type": g.node.type,
                "status": run.status.value,
                "itemsIn": run.items_in,
                "itemsOut": run.items_out,
                "durationMs": run.duration_ms,
                "error": run.error,
            },
        )
        if run.status is NodeRunStatus.FAILED and failure is not None:
            raise Failure(g.name, failure)
        return g, run_index, outputs

    def _handle_failure(
        self, ex: Execution, g: GraphNode, run: NodeRun, inputs: list[Items], exc: RelayflowError
    ) -> NodeOutput:
        if isinstance(exc, NodeError) and exc.node is None:
            exc.node = g.name
        run.error = error_dict(exc, g.name)
        mode = g.node.error_mode
        if mode == "stopWorkflow":
            run.status = NodeRunStatus.FAILED
            return []
        run.status = NodeRunStatus.CONTINUED
        message = exc.message
        items = inputs[0] if inputs else []
        width = output_width(g, error_output=mode == "continueErrorOutput")
        if mode == "continueErrorOutput":
            err_items = [
                {"json": {**it.get("json", {}), "error": message}, "pairedItem": {"item": i}}
                for i, it in enumerate(items)
            ] or [{"json": {"error": message}}]
            return [*([] for _ in range(width)), err_items]
        return [[{"json": {"error": message}, "pairedItem": {"item": 0}}], *([] for _ in range(width - 1))]

    async def _execute_with_retries(
        self, ex: Execution, g: GraphNode, run: NodeRun, inputs: list[Items], sources: list[Source | None]
    ) -> NodeOutput:
        node = g.node
        tries = max(1, min(node.maxTries, 10)) if node.retryOnFail else 1
        delay_ms = max(0, node.waitBetweenTries)
        attempt = 0
        while True:
            attempt += 1
            run.tries = attempt
            try:
                return await self._execute_once(ex, g, run, inputs, sources)
            except Park:
                raise
            except (RelayflowError, Exception) as exc:
                retryable = not isinstance(exc, UserError) and getattr(exc, "retryable", True)
                if attempt >= tries or not retryable:
                    raise
                wait = delay_ms * (2 ** (attempt - 1)) if node.retryBackoff == "exponential" else delay_ms
                wait = min(wait, max(node.maxWaitBetweenTries, delay_ms))
                self._emit(
                    "node.retry",
                    {"executionId": ex.record.id, "node": g.name, "attempt": attempt, "waitMs": wait},
                )
                await self.services.clock.sleep(wait / 1000)

    async def _execute_once(
        self, ex: Execution, g: GraphNode, run: NodeRun, inputs: list[Items], sources: list[Source | None]
    ) -> NodeOutput:
        node = g.node
        spec = g.resolved.spec
        if node.executeOnce and inputs and inputs[0]:
            inputs = [inputs[0][:1], *inputs[1:]]
        plan = ex.plan_for(g)
        scope = ex.scope_for(g, run.run_index, inputs, sources)
        ctx = NodeContext(ex, node, run.run_index, inputs, plan, scope)
        params = await plan.for_item(scope, 0)
        coro = spec.execute(ctx, inputs[0] if inputs else [], params)
        big = sum(len(i) for i in inputs) >= GC_PAUSE_MIN_ITEMS
        try:
            with _gc_paused(big):
                result = await self._await_node(coro, node.timeout, g.name)
        finally:
            if ctx.logs:
                run.logs.extend(ctx.logs)
        with _gc_paused(big):
            outputs = normalize_outputs(result, inputs[0] if inputs else [], pair=not spec.trigger)
        if node.error_mode == "continueErrorOutput":
            width = len(spec.output_names(params))
            outputs = outputs[:width] + [[] for _ in range(width - len(outputs))]
            outputs.append(ctx.error_items)
        elif ctx.error_items:
            outputs[0] = outputs[0] + ctx.error_items
        return outputs

    @staticmethod
    async def _await_node(coro: Any, timeout: float | None, name: str) -> Any:  # noqa: ASYNC109
        if not timeout:
            return await coro
        try:
            async with asyncio.timeout(timeout):
                return await coro
        except TimeoutError:
            raise NodeTimeout(f"the node timed out after {timeout:g} s", node=name) from None

    # ------------------------------------------------------------------------------------------
    async def run_child(
        self, parent: Execution, workflow: Workflow, items: Items, *, wait: bool = True
    ) -> ExecutionRecord | None:
        """Run a sub-workflow from its Execute Workflow Trigger with ``items``."""
        if parent.depth + 1 > MAX_SUBWORKFLOW_DEPTH:
            raise NodeError(f"sub-workflows nest deeper than {MAX_SUBWORKFLOW_DEPTH}", retryable=False)
        graph = self.graph(workflow)
        start = None
        for g in sorted(graph.triggers(), key=lambda g: g.order):
            if g.resolved.spec.type == "relayflow.executeWorkflowTrigger":
                start = g.name
                break
        coro = self.run(
            workflow,
            input_items=items,
            mode="integrated",
            start_node=start,
            _depth=parent.depth + 1,
            _parent=parent,
        )
        if not wait:
            self._detach(coro)
            return None
        return await coro


def _version_of(workflow: Workflow) -> str | None:
    version = (workflow.model_extra or {}).get("versionId")
    return version if isinstance(version, str) else None
