"""Run the benchmark scripts of this release in turn (each prints one JSON object)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = ["s2_chain", "s3_cpu", "s4_fanout", "s6_http_fanout", "s9_schedules", "s10_items"]

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    failed = 0
    for name in SCRIPTS:
        print(f"# {name}", flush=True)
        r = subprocess.run([sys.executable, "-m", f"bench.{name}", *sys.argv[1:]], cwd=root)
        failed += r.returncode != 0
    sys.exit(1 if failed else 0)
