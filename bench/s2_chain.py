"""S2: Manual trigger → chain of 40 light nodes, one item; one execution at a time, 100 runs.

Figures: ms per node and total ms (median of runs), with per-node history saved (the in-memory
run store keeps every node's output). Variants: Set with an expression (`{{ $json.n + 1 }}`),
Set with a static value, and the JavaScript Code node.

    python bench/s2_chain.py [--runs 100] [--nodes 40]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import emit, link, node, set_params, summary
from relayflow.engine.memory import MemoryRunStore
from relayflow.runtime import build_engine
from relayflow.workflow import parse_workflow


def chain(kind: str, n: int) -> dict[str, Any]:
    nodes = [node("Start", "n8n-nodes-base.manualTrigger", 1, {}, 0)]
    conns: dict[str, Any] = {}
    prev = "Start"
    for i in range(n):
        name = f"N{i}"
        if kind == "set-expression":
            nodes.append(
                node(name, "n8n-nodes-base.set", 3.4, set_params("n", "={{ $json.n + 1 }}"), 100 * i)
            )
        elif kind == "set-static":
            nodes.append(node(name, "n8n-nodes-base.set", 3.4, set_params(f"f{i}", i), 100 * i))
        else:
            code = "for (const item of $input.all()) { item.json.n = (item.json.n || 0) + 1 }\nreturn $input.all();"
            nodes.append(node(name, "n8n-nodes-base.code", 2, {"jsCode": code}, 100 * i))
        link(conns, prev, name)
        prev = name
    return {"name": f"S2 {kind}", "nodes": nodes, "connections": conns}


async def measure(kind: str, n: int, runs: int) -> dict[str, Any]:
    store = MemoryRunStore(capacity=runs + 10)
    engine = build_engine(store=store)
    wf = parse_workflow(chain(kind, n))
    for _ in range(5):  # warm-up
        await engine.run(wf, input_items=[{"json": {"n": 0}}])
    totals = []
    engine_ms = []
    for _ in range(runs):
        t = time.perf_counter()
        rec = await engine.run(wf, input_items=[{"json": {"n": 0}}])
        totals.append((time.perf_counter() - t) * 1000)
        assert rec.status.value == "succeeded", rec.error
        assert len(rec.node_runs) == n + 1 and all(r.output is not None for r in rec.node_runs)
        assert rec.finished_at is not None
        engine_ms.append((rec.finished_at - rec.started_at).total_seconds() * 1000)
    if kind == "set-expression":
        assert rec.output_json() == [{"n": n}], rec.output_json()
    if engine.expressions is not None:
        engine.expressions.close()
    per_node = [t / n for t in totals]
    return {
        "nodes": n,
        "runs": runs,
        "total_ms": summary(totals),
        "ms_per_node": summary(per_node),
        "engine_recorded_ms": summary(engine_ms),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=40)
    ap.add_argument("--kinds", default="set-expression,set-static,code")
    args = ap.parse_args()
    results = {k: await measure(k, args.nodes, args.runs) for k in args.kinds.split(",")}
    emit("S2", {"target_ms_per_node": 0.25, "history_saved": True, "mode": "embedded, in-process", **results})


if __name__ == "__main__":
    asyncio.run(main())
