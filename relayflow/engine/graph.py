"""A workflow compiled for running: specs resolved, connections indexed both ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relayflow.nodes.registry import Registry, Resolved
from relayflow.workflow.model import Node, Workflow


@dataclass
class GraphNode:
    node: Node
    resolved: Resolved
    # output index -> [(destination node, destination input)]
    out: list[list[tuple[str, int]]] = field(default_factory=list)
    # destination input indexes that have at least one connection
    connected_inputs: set[int] = field(default_factory=set)
    # (source node, source output) per input index
    parents: list[tuple[str, int]] = field(default_factory=list)
    order: tuple[float, float, int] = (0.0, 0.0, 0)
    # the node's ParamPlan, built on first use by the engine that owns this graph
    plan: Any = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def terminal(self) -> bool:
        return not any(self.out)


@dataclass
class Graph:
    workflow: Workflow
    nodes: dict[str, GraphNode]

    def triggers(self) -> list[GraphNode]:
        return [g for g in self.nodes.values() if g.resolved.spec.trigger and not g.node.disabled]

    def start_node(self, name: str | None = None) -> GraphNode:
        """The node a manual run starts from: the named one, a manual trigger, or the first trigger."""
        if name is not None:
            return self.nodes[name]
        triggers = sorted(self.triggers(), key=lambda g: g.order)
        for g in triggers:
            if g.resolved.spec.type in ("relayflow.manualTrigger", "relayflow.start"):
                return g
        if triggers:
            return triggers[0]
        # no trigger: the first root node (no inbound connections) that is not a sticky note
        roots = [g for g in self.nodes.values() if not g.connected_inputs and not g.resolved.spec.ignored]
        if not roots:
            raise LookupError("the workflow has no trigger and no node without inputs")
        return sorted(roots, key=lambda g: g.order)[0]


def build_graph(wf: Workflow, registry: Registry) -> Graph:
    nodes: dict[str, GraphNode] = {}
    for i, n in enumerate(wf.nodes):
        pos = n.position if len(n.position) >= 2 else [0.0, 0.0]
        nodes[n.name] = GraphNode(n, registry.resolve(n.type, n.typeVersion), order=(pos[1], pos[0], i))
    for src, by_type in wf.connections.items():
        g = nodes.get(src)
        if g is None:
            continue
        outputs = (by_type or {}).get("main") or []
        g.out = [[] for _ in outputs]
        for out_index, conns in enumerate(outputs):
            for c in conns or []:
                dst = nodes.get(c.node)
                if dst is None or dst.resolved.spec.ignored:
                    continue
                g.out[out_index].append((c.node, c.index))
                dst.connected_inputs.add(c.index)
                dst.parents.append((src, out_index))
    return Graph(wf, nodes)
