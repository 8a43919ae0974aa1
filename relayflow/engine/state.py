"""The state of one running execution: pending inputs, ready nodes, run views, scopes.

``Execution`` is owned by ``Engine`` (executor.py); nodes see it only through ``NodeContext``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relayflow.engine.expression import ExpressionScope, NodeRunView
from relayflow.engine.graph import Graph, GraphNode
from relayflow.engine.items import Item, Items, NodeOutput, paired_index
from relayflow.engine.params import ParamPlan
from relayflow.engine.run import ExecutionRecord, NodeRun, NodeRunStatus, Park, Source
from relayflow.engine.secrets_scrub import SecretSet
from relayflow.errors import RelayflowError

if TYPE_CHECKING:
    from relayflow.engine.executor import Engine


class Failure(Exception):
    """Stops the execution loop; carries the node error that did it."""

    def __init__(self, node: str, error: RelayflowError | BaseException) -> None:
        super().__init__(node)
        self.node = node
        self.error = error


_CHECKPOINT = {NodeRunStatus.SUCCEEDED, NodeRunStatus.CONTINUED, NodeRunStatus.PINNED, NodeRunStatus.DISABLED}


class Pending:
    """Data waiting on a node's inputs: a queue per input index, and how many are non-empty."""

    __slots__ = ("filled", "queues")

    def __init__(self) -> None:
        self.queues: dict[int, deque[tuple[Items, Source]]] = {}
        self.filled = 0

    def push(self, index: int, items: Items, source: Source) -> None:
        q = self.queues.get(index)
        if q is None:
            q = self.queues[index] = deque()
        if not q:
            self.filled += 1
        q.append((items, source))

    def has_any(self) -> bool:
        return self.filled > 0

    def complete(self, connected: int) -> bool:
        """Every one of the ``connected`` inputs holds data (pushes only reach connected inputs)."""
        return self.filled >= connected

    def pop(self, width: int) -> tuple[list[Items], list[Source | None]]:
        inputs: list[Items] = []
        sources: list[Source | None] = []
        queues = self.queues
        for i in range(width):
            q = queues.get(i)
            if q:
                items, src = q.popleft()
                if not q:
                    self.filled -= 1
                inputs.append(items)
                sources.append(src)
            else:
                inputs.append([])
                sources.append(None)
        return inputs, sources


class Ready:
    """Nodes ready to run, in order, without duplicates."""

    __slots__ = ("_names", "_order")

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._names: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._order)

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def add(self, name: str, front: bool = False) -> None:
        if name in self._names:
            if front:
                self._order.remove(name)
                self._order.appendleft(name)
            return
        self._names.add(name)
        if front:
            self._order.appendleft(name)
        else:
            self._order.append(name)

    def pop(self) -> str:
        name = self._order.popleft()
        self._names.discard(name)
        return name


class Execution:
    """The state of one running execution."""

    def __init__(
        self,
        engine: Engine,
        graph: Graph,
        record: ExecutionRecord,
        *,
        pin_data: Mapping[str, Any] | None,
        depth: int,
        parent: Execution | None,
        resume_state: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.engine = engine
        self.graph = graph
        self.workflow = graph.workflow
        self.record = record
        self.pin_data = dict(pin_data or {})
        self.depth = depth
        self.parent = parent
        self.views: dict[str, list[NodeRunView]] = {}
        self.pending: dict[str, Pending] = {}
        self.node_state: dict[str, dict[str, Any]] = {}
        self.static_data: dict[str, Any] = engine.static.for_execution(self.workflow, record.mode, depth)
        self.sequential = self.workflow.settings.sequential
        self.max_concurrency = 1 if self.sequential else self.workflow.settings.maxConcurrency
        self.node_runs = 0
        # parked nodes of a resumed execution → what resumed them (each is taken once)
        self.resume_state: dict[str, Mapping[str, Any]] = dict(resume_state or {})
        # the nodes that parked in this run: stored entries, and the signals they raised
        self.parked: list[dict[str, Any]] = []
        self.parked_signals: list[Park] = []
        # the credential values handed to this execution's nodes (X6): made on first use, so
        # executions without credentials skip scrubbing with one attribute test
        self.secrets: SecretSet | None = None

    def remember_secrets(self, type_: str, data: Mapping[str, Any]) -> None:
        """Remember a credential's secret values: what this execution records is scrubbed of them."""
        if self.secrets is None:
            self.secrets = SecretSet()
        self.secrets.add_credential(type_, data)

    # ------------------------------------------------------------------------------------------
    def plan_for(self, g: GraphNode) -> ParamPlan:
        """The node's parameter plan, built once per cached graph (parameters do not change)."""
        plan = g.plan
        if plan is None:
            raw = g.resolved.parameters(g.node.parameters)
            spec = g.resolved.spec
            plan = ParamPlan(g.name, raw, spec.params, self.engine.services.expressions, spec.deferred_params)
            g.plan = plan
        assert isinstance(plan, ParamPlan)
        return plan

    def scope_for(
        self, g: GraphNode, run_index: int, inputs: list[Items], sources: list[Source | None]
    ) -> ExpressionScope:
        svc = self.engine.services
        first = next((s for s in sources if s is not None), None)
        rec = self.record
        wf = self.workflow
        scope = ExpressionScope(
            node=g.name,
            items=inputs[0] if inputs else [],
            run_index=run_index,
            inputs=inputs,
            parameters=g.node.parameters,
            run_data=self.views,
            prev_node=first.node if first else None,
            prev_output=first.output if first else 0,
            prev_run=first.run if first else 0,
            execution={
                "id": rec.id,
                "mode": rec.mode,
                "resumeUrl": f"{svc.base_url}/webhook-waiting/{rec.id}",
            },
            workflow={"id": wf.id, "name": wf.name, "active": wf.active},
            vars=svc.vars,
            env=dict(svc.env) if svc.env is not None else None,
            timezone=wf.settings.timezone or "UTC",
            now=svc.clock.now,
            static_data=self.static_data,
            node_state=self.node_state,
        )
        src0 = sources[0] if sources else None
        scope.paired = lambda node, index: self.paired_item(node, scope.items, src0, index)
        return scope

    def paired_item(self, target: str, items: Items, source: Source | None, index: int) -> Item | None:
        """Follow ``pairedItem`` links back from ``items[index]`` to the item ``target`` produced."""
        if target not in self.views:
            return None
        if not 0 <= index < len(items):
            return None
        item = items[index]
        for _ in range(1000):
            if source is None:
                return None
            if source.node == target:
                return item
            runs = self.views.get(source.node)
            if not runs or source.run >= len(runs):
                return None
            view = runs[source.run]
            link = paired_index(item)
            j, k = link if link is not None else (index, 0)
            if k >= len(view.inputs) or not 0 <= j < len(view.inputs[k]):
                return None
            item, index = view.inputs[k][j], j
            src = view.source[k] if k < len(view.source) else None
            source = Source(*src) if src is not None else None
        return None

    def park(self, node: str, run_index: int, signal: Park) -> None:
        self.parked_signals.append(signal)
        self.parked.append(
            {
                "node": node,
                "runIndex": run_index,
                "until": signal.until.isoformat() if signal.until is not None else None,
                "webhook": signal.webhook,
            }
        )

    # ------------------------------------------------------------------------------------------
    def deliver(self, g: GraphNode, run_index: int, outputs: NodeOutput, ready: Ready) -> None:
        children: list[str] = []
        for out_index, conns in enumerate(g.out):
            if out_index >= len(outputs):
                break
            items = outputs[out_index]
            if not items:
                continue
            for dst, dst_input in conns:
                self.pending.setdefault(dst, Pending()).push(
                    dst_input, items, Source(g.name, out_index, run_index)
                )
                children.append(dst)
        if self.sequential:
            order = sorted(dict.fromkeys(children), key=lambda n: self.graph.nodes[n].order)
            for name in reversed(order):
                self._mark_ready(name, ready, front=True)
        else:
            for name in dict.fromkeys(children):
                self._mark_ready(name, ready)

    def _mark_ready(self, name: str, ready: Ready, front: bool = False) -> None:
        g = self.graph.nodes[name]
        p = self.pending.get(name)
        if p is None or not p.complete(len(g.connected_inputs) or 1):
            return
        ready.add(name, front)

    def replay(self, runs: list[NodeRun], start: str, items: Items, width: Any) -> list[NodeRun]:
        """Rebuild the state a previous execution reached, from its finished node runs.

        Finished runs (succeeded, continued, pinned, disabled, with their output) are the
        checkpoint: their outputs are delivered again and the inputs they consumed are taken off
        the queues, in the order they finished. Failed, cancelled or unfinished runs are dropped,
        so their inputs stay queued and those nodes run again. Returns the runs kept.
        """
        self.pending.setdefault(start, Pending()).push(0, items, Source("", 0, 0))
        scratch = Ready()
        kept: list[NodeRun] = []
        for run in runs:
            g = self.graph.nodes.get(run.node)
            if g is None or run.status not in _CHECKPOINT or run.output is None:
                continue
            pending = self.pending.get(run.node)
            if pending is None or not pending.has_any():
                continue  # the workflow changed: this run no longer fits
            inputs, _ = pending.pop(width(g))
            run_index = len(self.views.setdefault(run.node, []))
            source = [(s.node, s.output, s.run) if s else None for s in run.source]
            self.views[run.node].append(NodeRunView(outputs=run.output, source=source, inputs=inputs))
            self.deliver(g, run_index, run.output, scratch)
            self.node_runs += 1
            kept.append(run)
        return kept

    def ready_nodes(self) -> Ready:
        ready = Ready()
        for name, pending in sorted(self.pending.items(), key=lambda kv: self.graph.nodes[kv[0]].order):
            if pending.complete(len(self.graph.nodes[name].connected_inputs) or 1):
                ready.add(name)
        return ready

    def idle_candidate(self) -> str | None:
        waiting = [n for n, p in self.pending.items() if p.has_any()]
        if not waiting:
            return None
        return min(waiting, key=lambda n: self.graph.nodes[n].order)
