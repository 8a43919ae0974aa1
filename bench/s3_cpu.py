"""S3: chain of 10 CPU-heavy Code nodes (fib(27) each); overhead above the measured compute,
and the longest event-loop block seen by a probe task while it runs.

The compute baseline is fib(27) timed in the same V8 engine (mini-racer) outside the workflow.

    python bench/s3_cpu.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import LoopLagProbe, emit, link, node, summary
from relayflow.runtime import build_engine
from relayflow.workflow import parse_workflow

FIB = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }\n"
CODE = FIB + "return $input.all().map(i => ({json: {n: (i.json.n || 0) + 1, fib: fib(27)}}));"


def workflow(n: int) -> dict[str, Any]:
    nodes = [node("Start", "n8n-nodes-base.manualTrigger", 1, {}, 0)]
    conns: dict[str, Any] = {}
    prev = "Start"
    for i in range(n):
        nodes.append(node(f"Fib{i}", "n8n-nodes-base.code", 2, {"jsCode": CODE}, 100 * (i + 1)))
        link(conns, prev, f"Fib{i}")
        prev = f"Fib{i}"
    return {"name": "S3", "nodes": nodes, "connections": conns}


def compute_baseline_ms(reps: int = 10) -> float:
    from py_mini_racer import MiniRacer

    ctx = MiniRacer()
    ctx.eval(FIB)
    ctx.eval("fib(27)")
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        ctx.eval("fib(27)")
        times.append((time.perf_counter() - t) * 1000)
    ctx.close()
    return sorted(times)[len(times) // 2]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=10)
    args = ap.parse_args()
    engine = build_engine()
    wf = parse_workflow(workflow(args.nodes))
    await engine.run(wf)  # warm-up
    totals, overheads, lags = [], [], []
    for _ in range(args.runs):
        fib_ms = compute_baseline_ms(3)
        with LoopLagProbe() as probe:
            t = time.perf_counter()
            rec = await engine.run(wf)
            total = (time.perf_counter() - t) * 1000
        assert rec.status.value == "succeeded", rec.error
        assert rec.output_json() == [{"n": args.nodes, "fib": 196418}]
        totals.append(total)
        overheads.append((total - fib_ms * args.nodes) / args.nodes)
        lags.append(probe.max_lag_ms)
    if engine.expressions is not None:
        engine.expressions.close()
    emit(
        "S3",
        {
            "nodes": args.nodes,
            "runs": args.runs,
            "fib27_ms_baseline": round(compute_baseline_ms(), 3),
            "total_ms": summary(totals),
            "overhead_ms_per_node": summary(overheads),
            "max_loop_block_ms": summary(lags),
            "targets": {"overhead_ms_per_node": 2, "max_loop_block_ms": 50},
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
