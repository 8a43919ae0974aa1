"""What a node run produced, shaped for the run: outputs normalised and paired to their inputs,
errors as run-record dicts, and how many inputs and outputs a node has."""

from __future__ import annotations

from typing import Any

from relayflow.engine.graph import GraphNode
from relayflow.engine.items import Items, NodeOutput
from relayflow.engine.params import ParamPlan
from relayflow.errors import NodeError, RelayflowError


def output_width(g: GraphNode, *, error_output: bool) -> int:
    """How many regular outputs the node has, for an error that struck before it returned."""
    spec = g.resolved.spec
    if not callable(spec.outputs):
        return len(spec.outputs)
    plan = g.plan
    if isinstance(plan, ParamPlan) and not plan.dynamic:
        try:
            return len(spec.output_names(plan.static))
        except Exception:
            pass
    # the error output, when connected, is the last connected output
    return max(len(g.out) - (1 if error_output else 0), 1)


def input_width(g: GraphNode) -> int:
    declared = 0 if callable(g.resolved.spec.inputs) else len(g.resolved.spec.inputs)
    return max(declared, max(g.connected_inputs, default=0) + 1)


def concat(lists: Any) -> Any:
    for lst in lists:
        yield from lst


def normalize_outputs(result: Any, inputs: Items, *, pair: bool = True) -> NodeOutput:
    if result is None:
        return [[]]
    if not isinstance(result, list):
        raise NodeError("a node must return a list of outputs", retryable=False)
    if result and not isinstance(result[0], list):
        result = [result]  # a single output returned flat
    outputs: NodeOutput = [o if o is not None else [] for o in result] or [[]]
    if not pair:
        return outputs
    n_in = len(inputs)
    for out in outputs:
        if len(out) == n_in:
            for i, it in enumerate(out):
                if "pairedItem" not in it:
                    it["pairedItem"] = {"item": i}
        elif n_in == 1:
            for it in out:
                if "pairedItem" not in it:
                    it["pairedItem"] = {"item": 0}
    return outputs


def error_dict(exc: BaseException, node: str) -> dict[str, Any]:
    if isinstance(exc, RelayflowError):
        d = exc.to_dict()
    else:
        d = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
    if d.get("node") is None:
        d["node"] = node
    return d
