"""S1: Webhook → Set (one expression) → respond with the last node; every execution saved.

Starts `relayflow start` (embedded: SQLite in a fresh RELAYFLOW_HOME), creates and activates the
workflow through the API, then drives `POST /webhook/s1` with wrk (closed loop) at each
connection count, each followed by the same load on the bare JSON endpoint `GET /healthz` (the
ratio S1 ÷ bare is the target that holds on any machine). Checks that every answered request has
a stored execution.

Needs wrk (`apt-get install wrk`).

    python -m bench.s1_webhook [--connections 1,8,64,200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from bench.common import UNLIMITED, emit, owner_api_key
from bench.s11_start import free_port, rss_mb

WORKFLOW: dict[str, Any] = {
    "name": "S1",
    "nodes": [
        {
            "name": "Webhook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "position": [0, 0],
            "parameters": {"httpMethod": "POST", "path": "s1", "responseMode": "lastNode", "options": {}},
        },
        {
            "name": "Set",
            "type": "n8n-nodes-base.set",
            "typeVersion": 3.4,
            "position": [200, 0],
            "parameters": {
                "assignments": {
                    "assignments": [
                        {
                            "id": "a",
                            "name": "total",
                            "value": "={{ $json.body.price * $json.body.qty }}",
                            "type": "number",
                        }
                    ]
                },
                "options": {},
            },
        },
    ],
    "connections": {"Webhook": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
}

LUA = 'wrk.method = "POST"\nwrk.body = \'{"price": 2.5, "qty": 4}\'\nwrk.headers["Content-Type"] = "application/json"\n'


def call(base: str, method: str, path: str, body: Any = None, *, key: str | None = None) -> Any:
    """One JSON request; ``key`` is the API key (the /api/v1 routes need one, webhooks do not)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not become healthy")


def parse_wrk(out: str) -> dict[str, Any]:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": reqs,
        "exec_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms(lat["50"]),
        "p99_ms": ms(lat["99"]),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


def drive(base: str, path: str, connections: int, seconds: int, script: str | None) -> dict[str, Any]:
    cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    cmd += ["-s", script, base + path] if script else [base + path]
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def count_executions(base: str, key: str) -> int:
    total, cursor = 0, None
    while True:
        query = "/api/v1/executions?limit=250" + (f"&cursor={cursor}" if cursor else "")
        page = call(base, "GET", query, key=key)
        total += len(page["data"])
        cursor = page["nextCursor"]
        if not cursor:
            return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", default="1,8,64,200")
    ap.add_argument("--seconds", type=int, default=30)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("S1 needs wrk: apt-get install wrk")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "RELAYFLOW_HOME": home, "RELAYFLOW_PORT": str(port), **UNLIMITED}
        key = owner_api_key(env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "relayflow.cli", "start"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(base, proc)
            wf = call(base, "POST", "/api/v1/workflows", WORKFLOW, key=key)
            call(base, "POST", f"/api/v1/workflows/{wf['id']}/activate", key=key)
            assert call(base, "POST", "/webhook/s1", {"price": 2.5, "qty": 4}) == {"total": 10}
            script = os.path.join(home, "post.lua")
            with open(script, "w") as f:
                f.write(LUA)
            answered = 1
            for c in (int(x) for x in args.connections.split(",")):
                figures = drive(base, "/webhook/s1", c, args.seconds, script)
                figures["rss_mb"] = round(rss_mb(proc.pid), 1)
                answered += figures["requests"] - figures["non_2xx"]
                bare = drive(base, "/healthz", c, args.seconds, None)
                figures["bare_req_per_s"] = bare["exec_per_s"]
                figures["ratio_to_bare"] = round(figures["exec_per_s"] / bare["exec_per_s"], 3)
                results[f"c{c}"] = figures
            time.sleep(1)  # the batching writer is at most 50 ms behind
            stored = count_executions(base, key)
            results["stored_executions"] = stored
            results["answered_2xx"] = answered
            assert stored >= answered, (stored, answered)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    emit(
        "S1",
        {
            "mode": "embedded (SQLite WAL, history saved)",
            "seconds_per_level": args.seconds,
            **results,
            "targets": {"exec_per_s": 3000, "p99_ms_at_64": 20, "ratio_to_bare": 0.2},
        },
    )


if __name__ == "__main__":
    main()
