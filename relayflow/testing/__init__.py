"""Helpers for tests and plug-in authors: run a workflow or one node in memory, deterministically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayflow.engine.executor import Engine
from relayflow.engine.items import Items, normalize_items
from relayflow.engine.memory import FakeClock, MemoryEventSink, MemoryRunStore
from relayflow.engine.run import ExecutionRecord
from relayflow.nodes.registry import Registry
from relayflow.runtime import build_engine
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow

__all__ = [
    "FakeClock",
    "MemoryEventSink",
    "MemoryRunStore",
    "make_engine",
    "node_workflow",
    "output_json",
    "run_node",
    "run_workflow",
]


def make_engine(*, fake_clock: bool = False, registry: Registry | None = None, **overrides: Any) -> Engine:
    if fake_clock and "clock" not in overrides:
        overrides["clock"] = FakeClock()
    overrides.setdefault("events", MemoryEventSink())
    return build_engine(registry=registry, **overrides)


async def run_workflow(
    workflow: Workflow | Mapping[str, Any],
    *,
    input: Any = None,
    engine: Engine | None = None,
    **kwargs: Any,
) -> ExecutionRecord:
    wf = workflow if isinstance(workflow, Workflow) else parse_workflow(dict(workflow))
    eng = engine or make_engine()
    items = normalize_items(input) if input is not None else None
    return await eng.run(wf, input_items=items, **kwargs)


def node_workflow(
    type_: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    type_version: float = 1,
    inputs: int = 1,
    outputs: int = 1,
    node_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Trigger → the node ("Node") → one NoOp per output ("out0", "out1", ...).

    Inputs 1.. are fed by NoOps "in1", "in2"... hanging off the same trigger (pin their data).
    """
    nodes: list[dict[str, Any]] = [
        {"name": "Trigger", "type": "relayflow.manualTrigger", "position": [0, 0]},
        {
            "name": "Node",
            "type": type_,
            "typeVersion": type_version,
            "position": [200, 0],
            "parameters": dict(parameters or {}),
            **dict(node_fields or {}),
        },
    ]
    trigger_out = [{"node": "Node", "type": "main", "index": 0}]
    connections: dict[str, Any] = {"Trigger": {"main": [trigger_out]}}
    for k in range(1, inputs):
        nodes.append({"name": f"in{k}", "type": "relayflow.noOp", "position": [100, 100 * k]})
        trigger_out.append({"node": f"in{k}", "type": "main", "index": 0})
        connections[f"in{k}"] = {"main": [[{"node": "Node", "type": "main", "index": k}]]}
    for o in range(outputs):
        nodes.append({"name": f"out{o}", "type": "relayflow.noOp", "position": [400, 100 * o]})
    connections["Node"] = {
        "main": [[{"node": f"out{o}", "type": "main", "index": 0}] for o in range(outputs)]
    }
    return {"name": f"test {type_}", "nodes": nodes, "connections": connections}


async def run_node(
    type_: str,
    parameters: Mapping[str, Any] | None = None,
    items: Any = None,
    *,
    type_version: float = 1,
    outputs: int = 1,
    node_fields: Mapping[str, Any] | None = None,
    engine: Engine | None = None,
    extra_inputs: list[Any] | None = None,
) -> list[Items]:
    """Run one node on ``items`` (input 0) and return its outputs (the error output included).

    ``extra_inputs[k-1]`` feeds input k (Merge-like nodes); ``None`` there leaves input k empty.
    Raises ``NodeRunFailed`` when the execution fails.
    """
    extra = list(extra_inputs or [])
    wf = node_workflow(
        type_,
        parameters,
        type_version=type_version,
        inputs=1 + len(extra),
        outputs=outputs,
        node_fields=node_fields,
    )
    pin = {f"in{k}": normalize_items(data) for k, data in enumerate(extra, start=1)}
    eng = engine or make_engine()
    record = await eng.run(
        parse_workflow(wf),
        input_items=normalize_items(items if items is not None else [{}]),
        pin_data=pin,
    )
    if record.status.value != "succeeded":
        raise NodeRunFailed(record)
    runs = record.runs_of("Node")
    if not runs:
        return []
    return [list(o) for o in runs[-1].output or []]


class NodeRunFailed(Exception):
    def __init__(self, record: ExecutionRecord) -> None:
        self.record = record
        self.error = record.error or {}
        super().__init__(self.error.get("message", "execution failed"))


def output_json(outputs: list[Items], index: int = 0) -> list[dict[str, Any]]:
    """The ``json`` of each item of one output."""
    return [it["json"] for it in outputs[index]] if index < len(outputs) else []
