"""Nodes that exist only to exercise the engine."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, forward, passthrough
from relayflow.errors import NodeError
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry
from relayflow.nodes.spec import NodeSpec

# shared, per test: reset by the fixture in conftest
STATE: dict[str, Any] = {}


class P(BaseModel):
    model_config = ConfigDict(extra="allow")
    key: str = "k"
    fail_times: int = 0
    retryable: bool = True
    barrier: int = 0
    items: list[dict[str, Any]] | None = None
    limit: int = 0


async def _fail(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    n = STATE.setdefault(f"calls:{p.key}", 0) + 1
    STATE[f"calls:{p.key}"] = n
    if n <= p.fail_times:
        raise NodeError(f"failure {n}", retryable=p.retryable)
    return [passthrough(items)]


async def _block(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    """Waits on an event nobody sets: only timeouts or cancellation end it."""
    STATE.setdefault("started", []).append(ctx.node_name)
    await asyncio.Event().wait()
    return [items]


async def _rendezvous(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    """Returns only once ``barrier`` such nodes are inside at the same time (proves concurrency)."""
    inside = STATE.setdefault("inside", [0])
    peak = STATE.setdefault("peak", [0])
    cond = STATE.setdefault("cond", asyncio.Condition())
    async with cond:
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        cond.notify_all()
        if p.barrier:
            await cond.wait_for(lambda: inside[0] >= p.barrier or STATE.get("released", False))
            STATE["released"] = True
    await asyncio.sleep(0)
    async with cond:
        inside[0] -= 1
    STATE.setdefault("order", []).append(ctx.node_name)
    return [passthrough(items)]


async def _record(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    STATE.setdefault("order", []).append(ctx.node_name)
    STATE.setdefault("inputs", {})[f"{ctx.node_name}#{ctx.run_index}"] = [
        [it["json"] for it in inp] for inp in ctx.inputs
    ]
    return [[forward(it, i) for i, it in enumerate(items)]]


async def _emit(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    return [[{"json": j} for j in (p.items or [])]]


async def _counter(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    """Loops: output 0 ("done") once run ``limit`` times, else output 1 ("again")."""
    STATE.setdefault("order", []).append(f"{ctx.node_name}#{ctx.run_index}")
    out = [forward(it, i) for i, it in enumerate(items)]
    return [out, []] if ctx.run_index + 1 >= p.limit else [[], out]


async def _concat(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    out = []
    for k, inp in enumerate(ctx.inputs):
        out.extend(forward(it, i, k) for i, it in enumerate(inp))
    return [out]


async def _paired(ctx: NodeContext, items: Items, p: P) -> NodeOutput:
    scope = ctx.scope()
    assert scope.paired is not None
    out = []
    for i, it in enumerate(items):
        src = scope.paired(p.key, i)
        out.append(
            {"json": {"self": it["json"], "origin": src["json"] if src else None}, "pairedItem": {"item": i}}
        )
    return [out]


def _spec(name: str, fn: Any, **kw: Any) -> NodeSpec:
    return NodeSpec(
        type=f"test.{name}", version=1, title=name, group="core", description=name, params=P, execute=fn, **kw
    )


TEST_SPECS = (
    _spec("fail", _fail),
    _spec("block", _block),
    _spec("rendezvous", _rendezvous),
    _spec("record", _record),
    _spec("emit", _emit),
    _spec("counter", _counter, outputs=("done", "again")),
    _spec("concat", _concat, inputs=("a", "b")),
    _spec("paired", _paired),
)


def registry() -> Registry:
    return Registry((*BUILTIN_SPECS, *TEST_SPECS))


def wf(nodes: list[dict[str, Any]], edges: list[tuple[Any, ...]], **extra: Any) -> dict[str, Any]:
    """Build a workflow: nodes as dicts (name/type/parameters...), edges (src, dst[, out[, in]])."""
    full = [{"name": "T", "type": "relayflow.manualTrigger", "position": [0, 0]}]
    for i, n in enumerate(nodes):
        full.append({"position": [200, 100 * i], "parameters": {}, **n})
    conns: dict[str, Any] = {}
    for e in edges:
        src, dst = e[0], e[1]
        out = e[2] if len(e) > 2 else 0
        inp = e[3] if len(e) > 3 else 0
        outs = conns.setdefault(src, {"main": []})["main"]
        while len(outs) <= out:
            outs.append([])
        outs[out].append({"node": dst, "type": "main", "index": inp})
    return {"name": "test", "nodes": full, "connections": conns, **extra}
