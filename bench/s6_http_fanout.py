"""S6: Webhook → IF → 3 parallel HTTP Requests (a local server answering after 20 ms) → Merge →
respond with the last node; open loop (a fixed arrival rate), a ladder of rates.

Three processes besides this one's driver: `relayflow start` (embedded: SQLite in a fresh
RELAYFLOW_HOME), the 20 ms upstream (aiohttp) and, per rate, the load generator (aiohttp). The
generator sends request i at its intended time t0 + i / rate, whatever earlier requests do, and
measures each latency from that intended time, so a stalled server shows up in the figures
(no coordinated omission). A request that fails or answers non-2xx counts as infinitely slow in
the percentiles. Knee = the highest rate whose p99 stays under 250 ms.

    python -m bench.s6_http_fanout [--rates 50,100,200,400,800,1200,1600] [--seconds 60]
                                   [--keep-going]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from typing import Any

from bench.common import UNLIMITED, emit, link, node, owner_api_key
from bench.s1_webhook import call, wait_healthy
from bench.s11_start import free_port, rss_mb

UPSTREAM_DELAY_S = 0.020
KNEE_P99_MS = 250.0
BODY = b'{"n": 7}'
LOAD = [sys.executable, "-m", "bench.s6_http_fanout", "--role", "load"]


def workflow(upstream: str) -> dict[str, Any]:
    condition = {
        "id": "c1",
        "leftValue": "={{ $json.body.n }}",
        "rightValue": 0,
        "operator": {"type": "number", "operation": "gte"},
    }
    webhook = {"httpMethod": "POST", "path": "s6", "responseMode": "lastNode", "options": {}}
    nodes = [
        node("Webhook", "n8n-nodes-base.webhook", 2, webhook, 0),
        node(
            "IF",
            "n8n-nodes-base.if",
            2.2,
            {"conditions": {"conditions": [condition], "combinator": "and"}, "options": {}},
            200,
        ),
        node("Merge", "n8n-nodes-base.merge", 3, {"mode": "append", "numberInputs": 3}, 600),
    ]
    conns: dict[str, Any] = {}
    link(conns, "Webhook", "IF")
    for i in range(3):
        name = f"HTTP {i + 1}"
        params = {"method": "GET", "url": f"{upstream}/slow?branch={i + 1}", "options": {}}
        nodes.append(node(name, "n8n-nodes-base.httpRequest", 4.2, params, 400, 200 * i))
        link(conns, "IF", name)
        link(conns, name, "Merge", 0, i)
    return {"name": "S6", "nodes": nodes, "connections": conns}


# --- the 20 ms upstream (its own process) --------------------------------------------------------
def serve_upstream(port: int) -> None:
    from aiohttp import web

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(UPSTREAM_DELAY_S)
        return web.json_response({"branch": request.query.get("branch"), "ok": True})

    app = web.Application()
    app.router.add_get("/slow", slow)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- the open-loop load generator (its own process) ----------------------------------------------
async def generate(url: str, rate: float, seconds: float, timeout_s: float) -> dict[str, Any]:
    import aiohttp

    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    send_lag_ms = 0.0
    connector = aiohttp.TCPConnector(limit=0)  # open loop: a new connection whenever all are busy
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(intended: float) -> None:
            try:
                async with session.post(url, data=BODY, headers=headers) as r:
                    await r.read()
                    status = str(r.status)
            except Exception as exc:  # counted, never raised: the run goes on
                status = type(exc).__name__
            statuses[status] += 1
            ok = status.startswith("2")
            latencies.append((loop.time() - intended) * 1000 if ok else math.inf)

        total = int(rate * seconds)
        t0 = loop.time() + 0.05
        tasks = []
        for i in range(total):
            intended = t0 + i / rate
            delay = intended - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            send_lag_ms = max(send_lag_ms, (loop.time() - intended) * 1000)
            tasks.append(asyncio.create_task(one(intended)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - t0
    latencies.sort()
    ok = sum(1 for v in latencies if v != math.inf)

    def pct(q: float) -> float | None:
        v = latencies[min(len(latencies) - 1, int(len(latencies) * q))]
        return None if v == math.inf else round(v, 1)

    return {
        "rate": rate,
        "sent": total,
        "ok_2xx": ok,
        "statuses": dict(statuses),
        "achieved_per_s": round(ok / elapsed, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_send_lag_ms": round(send_lag_ms, 1),
    }


# --- the driver ----------------------------------------------------------------------------------
def run_step(url: str, rate: float, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [*LOAD, "--url", url, "--rate", str(rate), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/slow", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the upstream did not start")


def executions_done(base: str, key: str) -> int:
    """Succeeded webhook executions, from the server's /metrics (an instance admin's key)."""
    scrape = urllib.request.Request(base + "/metrics", headers={"X-API-Key": key})
    with urllib.request.urlopen(scrape, timeout=10) as r:
        text = r.read().decode()
    pattern = r'^relayflow_executions_total\{[^}]*mode="webhook"[^}]*status="succeeded"[^}]*\} (\S+)'
    found = re.findall(pattern, text, re.M)
    if not found:  # label order
        pattern = r'^relayflow_executions_total\{[^}]*status="succeeded"[^}]*mode="webhook"[^}]*\} (\S+)'
        found = re.findall(pattern, text, re.M)
    return sum(int(float(v)) for v in found)


def ladder(args: argparse.Namespace) -> None:
    up_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.s6_http_fanout", "--role", "upstream", "--port", str(up_port)]
    )
    wait_listening(up_port, upstream)
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "RELAYFLOW_HOME": home,
            "RELAYFLOW_PORT": str(port),
            # the SSRF guard refuses loopback: open exactly the local upstream
            "RELAYFLOW_HTTP_ALLOW": f"127.0.0.1:{up_port}",
            **UNLIMITED,
        }
        key = owner_api_key(env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "relayflow.cli", "start"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(base, proc)
            wf = call(base, "POST", "/api/v1/workflows", workflow(f"http://127.0.0.1:{up_port}"), key=key)
            call(base, "POST", f"/api/v1/workflows/{wf['id']}/activate", key=key)
            answer = call(base, "POST", "/webhook/s6", {"n": 7})
            if answer != {"branch": "1", "ok": True}:
                sys.exit(f"unexpected answer {answer!r}")
            warm_up = run_step(f"{base}/webhook/s6", 20, 2)
            for rate in (float(r) for r in args.rates.split(",")):
                step = run_step(f"{base}/webhook/s6", rate, args.seconds)
                step["rss_mb"] = round(rss_mb(proc.pid), 1)
                steps.append(step)
                print(json.dumps(step), file=sys.stderr, flush=True)
                p99 = step["p99_ms"]
                if not args.keep_going and (p99 is None or p99 > 4 * KNEE_P99_MS):
                    break
                time.sleep(2)  # let the queue drain between steps
            time.sleep(1)
            done = executions_done(base, key)
            answered = 1 + warm_up["ok_2xx"] + sum(s["ok_2xx"] for s in steps)
            if done < answered:
                sys.exit(f"{answered} requests answered 2xx but only {done} executions succeeded")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            upstream.terminate()
            upstream.wait(10)
    passing = [s["rate"] for s in steps if s["p99_ms"] is not None and s["p99_ms"] < KNEE_P99_MS]
    emit(
        "S6",
        {
            "mode": "embedded (SQLite WAL, history saved)",
            "load": "open loop, latency from the intended send time",
            "seconds_per_rate": args.seconds,
            "steps": steps,
            "knee_exec_per_s": max(passing, default=0),
            "succeeded_webhook_executions": done,
            "answered_2xx": answered,
            "targets": {"knee_exec_per_s": 1000, "p99_ms_at_100": 60},
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="50,100,200,400,800,1200,1600")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--keep-going", action="store_true", help="run every rate even past the knee")
    ap.add_argument(
        "--role", choices=("driver", "upstream", "load"), default="driver", help=argparse.SUPPRESS
    )
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--timeout-s", type=float, default=10.0, help="per request")
    args = ap.parse_args()
    if args.role == "upstream":
        serve_upstream(args.port)
    elif args.role == "load":
        result = asyncio.run(generate(args.url, args.rate, args.seconds, args.timeout_s))
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        ladder(args)


if __name__ == "__main__":
    main()
