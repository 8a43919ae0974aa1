"""S7: executions parked at a Wait node (half on a timer, half waiting for a call), the server
restarted, then resumed.

Starts `relayflow start` (embedded: SQLite in a fresh RELAYFLOW_HOME) and two active workflows:
`POST /webhook/s7-call` → Wait for a call → NoOp, and `POST /webhook/s7-timer` → Wait until the
time in the body → NoOp (both answer at once). Parks N/2 of each (the timer ones all due at the
same moment T, after the restart), measures the server's RSS per parked execution (over all of
them, and the marginal cost over the second half), restarts it
(SIGTERM, start again on the same home), then calls every resume URL as fast as a few dozen
connections allow while the timers fire at T. Reports the resume rate, the timers' lateness
(finishedAt - T: includes running the NoOp) and how many executions did not end `succeeded`.

    python -m bench.s7_waits [--count 10000] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.common import UNLIMITED, emit, owner_api_key
from bench.s1_webhook import call, wait_healthy
from bench.s11_start import free_port, rss_mb


def workflow(name: str, path: str, wait: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {
                "name": "Hook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "parameters": {"httpMethod": "POST", "path": path, "responseMode": "onReceived"},
            },
            {"name": "Wait", "type": "n8n-nodes-base.wait", "typeVersion": 1.1, "parameters": wait},
            {"name": "Done", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {
            "Hook": {"main": [[{"node": "Wait", "type": "main", "index": 0}]]},
            "Wait": {"main": [[{"node": "Done", "type": "main", "index": 0}]]},
        },
    }


CALL = workflow("S7 call", "s7-call", {"resume": "webhook", "httpMethod": "POST"})
TIMER = workflow("S7 timer", "s7-timer", {"resume": "specificTime", "dateTime": "={{ $json.body.at }}"})
WARM = workflow("S7 warm-up", "s7-warm", {"resume": "specificTime", "dateTime": "={{ $json.body.at }}"})


def server_env(home: str, port: int) -> dict[str, str]:
    return {**os.environ, "RELAYFLOW_HOME": home, "RELAYFLOW_PORT": str(port), **UNLIMITED}


def start(home: str, port: int) -> subprocess.Popen[bytes]:
    env = server_env(home, port)
    return subprocess.Popen(
        [sys.executable, "-m", "relayflow.cli", "start"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def post_all(urls: list[tuple[str, dict[str, Any]]], connections: int) -> tuple[float, list[int]]:
    """POST each (url, body) with ``connections`` workers; (seconds taken, statuses)."""
    statuses: list[int] = []
    queue = list(reversed(urls))
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            while queue:
                url, body = queue.pop()
                async with session.post(url, json=body) as r:
                    await r.read()
                    statuses.append(r.status)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - t0, statuses


def executions(base: str, key: str, workflow_id: str, status: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"/api/v1/executions?limit=250&workflowId={workflow_id}"
        query += f"&status={status}" if status else ""
        query += f"&cursor={cursor}" if cursor else ""
        page = call(base, "GET", query, key=key)
        found += page["data"]
        cursor = page["nextCursor"]
        if not cursor:
            return found


def settle_rss(pid: int) -> float:
    time.sleep(2.0)
    gc.collect()
    return rss_mb(pid)


def wait_count(base: str, key: str, workflow_id: str, status: str, want: int, deadline_s: float) -> int:
    end = time.monotonic() + deadline_s
    while True:
        got = len(executions(base, key, workflow_id, status))
        if got >= want or time.monotonic() > end:
            return got
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    half = args.count // 2
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, Any] = {"parked": 2 * half}
    with tempfile.TemporaryDirectory() as home:
        key = owner_api_key(server_env(home, port))
        proc = start(home, port)
        try:
            wait_healthy(base, proc)
            call_id = call(base, "POST", "/api/v1/workflows", CALL, key=key)["id"]
            timer_id = call(base, "POST", "/api/v1/workflows", TIMER, key=key)["id"]
            warm_id = call(base, "POST", "/api/v1/workflows", WARM, key=key)["id"]
            for wf in (call_id, timer_id, warm_id):
                call(base, "POST", f"/api/v1/workflows/{wf}/activate", key=key)
            # warm up: parked and resumed at once, so imports and caches are in the baseline
            warm_at = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
            asyncio.run(post_all([(f"{base}/webhook/s7-warm", {"at": warm_at})] * 50, 8))
            time.sleep(2)
            time.sleep(1)
            baseline = settle_rss(proc.pid)
            took, statuses = asyncio.run(post_all([(f"{base}/webhook/s7-call", {})] * half, args.connections))
            figures["park_per_s"] = round(half / took, 1)
            half_parked = settle_rss(proc.pid)
            # the timers are due after the restart: the time to park them plus a margin
            due = datetime.now(UTC) + timedelta(seconds=took * 1.3 + 15)
            body = {"at": due.isoformat()}
            _, more = asyncio.run(post_all([(f"{base}/webhook/s7-timer", body)] * half, args.connections))
            statuses += more
            figures["park_errors"] = sum(s != 200 for s in statuses)
            parked = settle_rss(proc.pid)
            figures["rss_baseline_mb"] = round(baseline, 1)
            figures["rss_parked_mb"] = round(parked, 1)
            figures["rss_kb_per_parked"] = round((parked - baseline) * 1024 / (2 * half), 2)
            # the second half's growth: what one more parked execution costs, once the bounded
            # caches (SQLite's page cache, allocator arenas) have filled
            figures["rss_kb_per_parked_marginal"] = round((parked - half_parked) * 1024 / half, 2)
            waiting = executions(base, key, call_id, "waiting")
            figures["waiting_before_restart"] = len(waiting) + len(executions(base, key, timer_id, "waiting"))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            t0 = time.perf_counter()
            proc = start(home, port)
            wait_healthy(base, proc)
            figures["restart_s"] = round(time.perf_counter() - t0, 2)
            figures["rss_after_restart_mb"] = round(rss_mb(proc.pid), 1)
            if datetime.now(UTC) >= due:
                figures["note"] = "the timers were due before the restart ended"
            urls = [(f"{base}/webhook-waiting/{e['id']}", {"ok": True}) for e in waiting]
            took, statuses = asyncio.run(post_all(urls, args.connections))
            figures["resume_calls_per_s"] = round(len(urls) / took, 1)
            figures["resume_errors"] = sum(s != 200 for s in statuses)
            wait_count(
                base,
                key,
                timer_id,
                "succeeded",
                half,
                max(60.0, (due - datetime.now(UTC)).total_seconds() + 60),
            )
            wait_count(base, key, call_id, "succeeded", half, 60.0)
            timed = executions(base, key, timer_id, "succeeded")
            late = sorted(
                (datetime.fromisoformat(e["finishedAt"]) - due).total_seconds() * 1000 for e in timed
            )
            if late:
                figures["timer_lateness_ms"] = {
                    "p50": round(statistics.median(late), 1),
                    "p99": round(late[min(len(late) - 1, int(len(late) * 0.99))], 1),
                    "max": round(late[-1], 1),
                }
                spread = late[-1] - late[0]
                figures["timer_resume_per_s"] = round(len(late) / max(spread / 1000, 1e-3), 1)
            succeeded = len(timed) + len(executions(base, key, call_id, "succeeded"))
            figures["succeeded"] = succeeded
            figures["lost"] = 2 * half - succeeded
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    emit("S7", figures)


if __name__ == "__main__":
    main()
