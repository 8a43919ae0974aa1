"""S11: `relayflow start` to `/healthz` 200 (and on to `/readyz` 200), and idle memory; 10 cold starts.

Each start uses a fresh RELAYFLOW_HOME (a new SQLite database, created at start) and a free port.
Python's bytecode cache is as the environment has it: with PYTHONDONTWRITEBYTECODE=1 and no
``__pycache__`` every start compiles relayflow's own sources. ``--bytecode-cache`` measures what
an installed package does (pip writes the bytecode at install): the children may write it, and
one start that is not counted writes relayflow's ``__pycache__`` (git ignores it) first.

    python -m bench.s11_start [--starts 10] [--bytecode-cache]
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


def wait_ok(url: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Poll ``url`` every 10 ms until it answers 200; RuntimeError if the server dies or is late."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() > deadline or proc.poll() is not None:
            raise RuntimeError(f"the server did not answer 200 at {url}")
        time.sleep(0.01)


def one_start(bytecode_cache: bool = False) -> tuple[float, float, float]:
    """Seconds to /healthz 200 and to /readyz 200, and the RSS (MB) after 2 s idle."""
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "RELAYFLOW_HOME": home, "RELAYFLOW_PORT": str(port)}
        if bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "relayflow.cli", "start"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ok(f"http://127.0.0.1:{port}/healthz", proc, t + 30)
            healthy_s = time.perf_counter() - t
            wait_ok(f"http://127.0.0.1:{port}/readyz", proc, t + 30)
            ready_s = time.perf_counter() - t
            time.sleep(2)  # idle
            return healthy_s, ready_s, rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--bytecode-cache", action="store_true", help="as an installed package: see above")
    args = ap.parse_args()
    if args.bytecode_cache:
        one_start(bytecode_cache=True)
    results = [one_start(args.bytecode_cache) for _ in range(args.starts)]
    emit(
        "S11",
        {
            "starts": args.starts,
            "bytecode": "cached by a first start"
            if args.bytecode_cache
            else f"as the environment has it (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')})",
            "start_to_healthz_s": summary([r[0] for r in results]),
            "start_to_readyz_s": summary([r[1] for r in results]),
            "idle_rss_mb": summary([r[2] for r in results]),
            "targets": {"start_to_healthz_s": 1.0, "idle_rss_mb": 100},
        },
    )


if __name__ == "__main__":
    main()
