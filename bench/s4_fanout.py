"""S4: Trigger → 400 parallel branches (one light node each) → Merge (append, 400 inputs).

Figures: makespan of one execution, time to the first branch start, then the makespan of 10
concurrent executions. Timings come from the engine's own node timestamps; wall clock cross-checks.

    python bench/s4_fanout.py [--branches 400] [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import emit, link, node, set_params, summary
from relayflow.runtime import build_engine
from relayflow.workflow import parse_workflow


def workflow(branches: int) -> dict[str, Any]:
    nodes = [node("Start", "n8n-nodes-base.manualTrigger", 1, {}, 0)]
    conns: dict[str, Any] = {}
    nodes.append(node("Merge", "relayflow.merge", 1, {"mode": "append", "number_inputs": branches}, 400))
    for i in range(branches):
        name = f"B{i}"
        nodes.append(node(name, "n8n-nodes-base.set", 3.4, set_params("branch", i), 200, i * 20))
        link(conns, "Start", name)
        link(conns, name, "Merge", 0, i)
    return {"name": "S4", "nodes": nodes, "connections": conns, "settings": {"maxConcurrency": 16}}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--branches", type=int, default=400)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    engine = build_engine()
    wf = parse_workflow(workflow(args.branches))
    await engine.run(wf)  # warm-up
    makespans, first_starts, walls = [], [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        rec = await engine.run(wf)
        walls.append((time.perf_counter() - t) * 1000)
        assert rec.status.value == "succeeded", rec.error
        out = rec.output_json()
        assert sorted(o["branch"] for o in out) == list(range(args.branches))
        assert rec.finished_at is not None
        makespans.append((rec.finished_at - rec.started_at).total_seconds() * 1000)
        branch_starts = [r.started_at for r in rec.node_runs if r.node.startswith("B")]
        first_starts.append((min(branch_starts) - rec.started_at).total_seconds() * 1000)
    concurrent = []
    for _ in range(max(3, args.runs // 2)):
        t = time.perf_counter()
        recs = await asyncio.gather(*(engine.run(wf) for _ in range(10)))
        concurrent.append((time.perf_counter() - t) * 1000)
        assert all(r.status.value == "succeeded" for r in recs)
    if engine.expressions is not None:
        engine.expressions.close()
    emit(
        "S4",
        {
            "branches": args.branches,
            "runs": args.runs,
            "makespan_ms": summary(makespans),
            "wall_ms": summary(walls),
            "first_branch_start_ms": summary(first_starts),
            "ten_concurrent_makespan_ms": summary(concurrent),
            "target_makespan_ms": 100,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
