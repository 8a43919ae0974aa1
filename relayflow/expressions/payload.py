"""What a V8 call is given: only the data the code references (see ``template.Needs``)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from relayflow.engine.expression import ExpressionScope, NodeRunView
from relayflow.engine.items import Item
from relayflow.expressions.template import Needs


def done_runs(scope: ExpressionScope, node: str) -> list[NodeRunView]:
    """The finished runs of ``node`` (a running node has a placeholder run with no outputs)."""
    return [r for r in scope.run_data.get(node, ()) if r.outputs]


def last_output(scope: ExpressionScope, node: str) -> list[Item] | None:
    runs = done_runs(scope, node)
    if not runs:
        return None
    return runs[-1].outputs[0] if runs[-1].outputs else []


def paired_item(scope: ExpressionScope, node: str, index: int) -> Item | None:
    """``$('node').item`` for input item ``index``: the pairedItem chain, or the node's only item."""
    found = scope.paired(node, index) if scope.paired is not None else None
    if found is not None:
        return found
    out = last_output(scope, node)
    if out is not None and len(out) == 1:
        return out[0]
    return None


def legacy_item(scope: ExpressionScope, node: str, index: int) -> Item | None:
    """``$node["node"]``: its item at the same index, else its last item (relayflow's rule)."""
    out = last_output(scope, node)
    if not out:
        return None
    return out[index] if index < len(out) else out[-1]


def now_ms(scope: ExpressionScope) -> int:
    if scope.now is None:
        return int(time.time() * 1000)
    return int(scope.now().timestamp() * 1000)


def meta(scope: ExpressionScope, needs: Needs) -> dict[str, Any]:
    prev = (
        {"name": scope.prev_node, "outputIndex": scope.prev_output, "runIndex": scope.prev_run}
        if scope.prev_node is not None
        else {}
    )
    return {
        "runIndex": scope.run_index,
        "node": scope.node,
        "mode": scope.execution.get("mode", "manual"),
        "execution": scope.execution,
        "workflow": scope.workflow,
        "prevNode": prev,
        "vars": scope.vars,
        "env": scope.env if needs.env else None,
        "tz": scope.timezone or "UTC",
        "now": now_ms(scope),
        "parameter": scope.parameters if needs.parameter else {},
        "staticData": (scope.static_data if scope.static_data is not None else {})
        if needs.static_data
        else None,
        "extra": scope.extra,
    }


def _node_entry(
    scope: ExpressionScope, name: str, needs: Needs, idx: Sequence[int], every: bool
) -> dict[str, Any]:
    runs = done_runs(scope, name)
    entry: dict[str, Any] = {"executed": bool(runs)}
    if name in needs.context or (every and needs.any_context):
        entry["context"] = scope.node_state.get(name, {})
    if not runs:
        return entry
    if every or name in needs.outputs:
        entry["runs"] = [r.outputs for r in runs]
    if every or name in needs.paired:
        entry["paired"] = [paired_item(scope, name, i) for i in idx]
    if name in needs.paired_all:
        entry["pairedAll"] = [paired_item(scope, name, i) for i in range(len(scope.items))]
    if name in needs.legacy:
        entry["legacy"] = [legacy_item(scope, name, i) for i in idx]
    return entry


def nodes(scope: ExpressionScope, needs: Needs, idx: Sequence[int]) -> dict[str, Any]:
    names = needs.paired | needs.outputs | needs.legacy | needs.paired_all | needs.context
    if needs.input_context and scope.prev_node is not None:
        names = names | {scope.prev_node}
        needs = _with_context(needs, scope.prev_node)
    if needs.dynamic_nodes:
        return {n: _node_entry(scope, n, needs, idx, True) for n in set(scope.run_data) | names}
    return {n: _node_entry(scope, n, needs, idx, False) for n in names}


def _with_context(needs: Needs, name: str) -> Needs:
    """``needs`` plus the state of ``name`` (``$input.context``: the node feeding this one)."""
    if name in needs.context:
        return needs
    return dataclasses.replace(needs, context=needs.context | {name})


def _slim(it: Item) -> Item:
    b = it.get("binary")
    return {"json": it.get("json", {}), "binary": b} if b is not None else {"json": it.get("json", {})}


def build(scope: ExpressionScope, needs: Needs, idx: Sequence[int]) -> dict[str, Any]:
    """The data part of a payload for items ``idx`` of ``scope.items``."""
    src = scope.items
    n = len(src)
    p: dict[str, Any] = {"idx": list(idx), "meta": meta(scope, needs), "nodes": nodes(scope, needs, idx)}
    if needs.all_items:
        p["all"] = [_slim(it) for it in src]
    else:
        if needs.json:
            p["json"] = [src[i].get("json", {}) if i < n else {} for i in idx]
        if needs.binary:
            p["binary"] = [src[i].get("binary") if i < n else None for i in idx]
    return p
