"""Medians across repeated runs of the benchmark scripts: ``python -m bench.summarize bench/out``.

Each file holds one script's JSON output; files are grouped by scenario.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        d = d[part]
    return d


FIGURES = {
    "S2": [
        "set-expression.ms_per_node.median",
        "set-static.ms_per_node.median",
        "code.ms_per_node.median",
        "set-expression.total_ms.median",
    ],
    "S3": ["overhead_ms_per_node.median", "max_loop_block_ms.max", "fib27_ms_baseline", "total_ms.median"],
    "S4": ["makespan_ms.median", "first_branch_start_ms.median", "ten_concurrent_makespan_ms.median"],
    "S10": [
        "per_node.Set.items_per_s",
        "per_node.Filter.items_per_s",
        "per_node.Sort.items_per_s",
        "per_node.Aggregate.items_per_s",
        "wall_s",
        "input_json_mb",
        "peak_rss_mb",
        "peak_growth_over_input",
    ],
}


def main(folder: str) -> None:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in sorted(Path(folder).glob("*.json")):
        try:
            data = orjson.loads(f.read_bytes())
        except orjson.JSONDecodeError:
            print(f"skipping {f}: not JSON", file=sys.stderr)
            continue
        runs[data["scenario"]].append(data)
    for scenario, results in sorted(runs.items()):
        print(f"{scenario} ({len(results)} runs)")
        for path in FIGURES.get(scenario, []):
            values = [float(_get(r, path)) for r in results]
            print(
                f"  {path:<42} median {statistics.median(values):>12.4g}"
                f"   min {min(values):>10.4g}   max {max(values):>10.4g}"
            )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
