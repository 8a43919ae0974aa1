"""S11: `relayflow start` to `/healthz` 200, and idle memory; 10 cold starts.

Each start uses a fresh RELAYFLOW_HOME (a new SQLite database, migrated at start) and a free port.

    python -m bench.s11_start [--starts 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench.common import emit, summary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def one_start() -> tuple[float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "RELAYFLOW_HOME": home, "RELAYFLOW_PORT": str(port)}
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "relayflow.cli", "start"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = t + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.perf_counter() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not become healthy")
                time.sleep(0.01)
            ready_s = time.perf_counter() - t
            time.sleep(2)  # idle
            return ready_s, rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()
    results = [one_start() for _ in range(args.starts)]
    emit(
        "S11",
        {
            "starts": args.starts,
            "start_to_healthz_s": summary([r[0] for r in results]),
            "idle_rss_mb": summary([r[1] for r in results]),
            "targets": {"start_to_healthz_s": 1.0, "idle_rss_mb": 100},
        },
    )


if __name__ == "__main__":
    main()
