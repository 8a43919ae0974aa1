"""S10: 1,000,000 items through Set → Filter → Sort → Aggregate in one execution.

Figures: items/s per node (from the engine's node timestamps), total seconds, peak RSS growth
versus the input's JSON size.

    python bench/s10_items.py [--items 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

import orjson

from bench.common import emit, link, node, peak_rss_mb, rss_mb, set_params
from relayflow.runtime import build_engine
from relayflow.workflow import parse_workflow


def workflow() -> dict[str, Any]:
    filter_params = {
        "conditions": {
            "options": {"caseSensitive": True, "leftValue": "", "typeValidation": "strict"},
            "conditions": [
                {
                    "id": "c1",
                    "leftValue": "={{ $json.double }}",
                    "rightValue": 1000,
                    "operator": {"type": "number", "operation": "gte"},
                },
            ],
            "combinator": "and",
        },
        "options": {},
    }
    sort_params = {
        "sortFieldsUi": {"sortField": [{"fieldName": "value", "order": "descending"}]},
        "options": {},
    }
    agg_params = {"fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "id"}]}, "options": {}}
    nodes = [
        node("Start", "n8n-nodes-base.manualTrigger", 1, {}, 0),
        node("Set", "n8n-nodes-base.set", 3.4, set_params("double", "={{ $json.value * 2 }}"), 200),
        node("Filter", "n8n-nodes-base.filter", 2.2, filter_params, 400),
        node("Sort", "n8n-nodes-base.sort", 1, sort_params, 600),
        node("Aggregate", "n8n-nodes-base.aggregate", 1, agg_params, 800),
    ]
    conns: dict[str, Any] = {}
    for a, b in (("Start", "Set"), ("Set", "Filter"), ("Filter", "Sort"), ("Sort", "Aggregate")):
        link(conns, a, b)
    return {"name": "S10", "nodes": nodes, "connections": conns}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.items
    engine = build_engine()
    wf = parse_workflow(workflow())
    await engine.run(wf, input_items=[{"json": {"id": i, "value": i, "name": f"n{i}"}} for i in range(100)])
    gc.collect()
    base_rss = rss_mb()
    items = [{"json": {"id": i, "value": i % 10_000, "name": f"item {i}"}} for i in range(n)]
    input_mb = len(orjson.dumps([it["json"] for it in items])) / 2**20
    t = time.perf_counter()
    rec = await engine.run(wf, input_items=items)
    wall = time.perf_counter() - t
    assert rec.status.value == "succeeded", rec.error
    out = rec.output_json()
    kept = sum(1 for i in range(n) if (i % 10_000) * 2 >= 1000)
    assert len(out) == 1 and len(out[0]["id"]) == kept, (len(out), kept)
    per_node = {}
    for r in rec.node_runs:
        if r.node == "Start":
            continue
        secs = r.duration_ms / 1000
        per_node[r.node] = {
            "items_in": r.items_in[0],
            "seconds": round(secs, 3),
            "items_per_s": round(r.items_in[0] / secs) if secs else None,
        }
    peak = peak_rss_mb()
    if engine.expressions is not None:
        engine.expressions.close()
    emit(
        "S10",
        {
            "items": n,
            "wall_s": round(wall, 3),
            "per_node": per_node,
            "input_json_mb": round(input_mb, 1),
            "rss_before_input_mb": round(base_rss, 1),
            "peak_rss_mb": round(peak, 1),
            "peak_growth_over_input": round((peak - base_rss) / input_mb, 2),
            "targets": {"set_items_per_s": 300_000, "peak_growth_over_input": 4},
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
