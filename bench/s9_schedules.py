"""S9: 1,000 schedules due in the same second, for 5 minutes; lateness, missed, doubled.

Starts one or two `relayflow start` processes on one database (the SQLite file of a fresh
RELAYFLOW_HOME, or ``--database-url``), creates and activates N workflows Schedule Trigger
(cron ``0 * * * * *``: every minute at second 0, or every ``--every-s`` seconds) → NoOp through
the API, waits out the window, then reads every execution back from the API.

Each execution belongs to the latest slot at or before its start (exact while lateness stays under
the period; a sample is checked against the trigger item's timestamp). Lateness = the execution's
``startedAt`` (relayflow's own timestamp) minus its slot. Missed = window slots without an
execution, doubled = executions beyond the first of a (workflow, slot).

    python -m bench.s9_schedules [--schedules 1000] [--minutes 5] [--schedulers 1|2]
                                 [--every-s 60] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from bench.common import UNLIMITED, emit, owner_api_key
from bench.s1_webhook import call, wait_healthy
from bench.s11_start import free_port, rss_mb

REFRESH_S = 5.0  # the scheduler's default refresh: how soon a second process sees new workflows


def workflow(i: int, every_s: int) -> dict[str, Any]:
    cron = "0 * * * * *" if every_s == 60 else f"*/{every_s} * * * * *"
    return {
        "name": f"S9 {i}",
        "nodes": [
            {
                "name": "Schedule",
                "type": "n8n-nodes-base.scheduleTrigger",
                "typeVersion": 1.2,
                "position": [0, 0],
                "parameters": {"rule": {"interval": [{"field": "cronExpression", "expression": cron}]}},
            },
            {
                "name": "Done",
                "type": "n8n-nodes-base.noOp",
                "typeVersion": 1,
                "position": [200, 0],
                "parameters": {},
            },
        ],
        "connections": {"Schedule": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
    }


def start_server(env: dict[str, str], port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "relayflow.cli", "start"],
        env={**env, "RELAYFLOW_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def create_active(base: str, key: str, count: int, every_s: int) -> list[str]:
    def create(i: int) -> str:
        return str(call(base, "POST", "/api/v1/workflows", workflow(i, every_s), key=key)["id"])

    def activate(wf_id: str) -> None:
        call(base, "POST", f"/api/v1/workflows/{wf_id}/activate", key=key)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(count)))
        list(pool.map(activate, ids))
    return ids


def executions_since(base: str, key: str, since: datetime) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    after = urllib.parse.quote(since.isoformat())
    while True:
        page = call(
            base,
            "GET",
            f"/api/v1/executions?limit=250&startedAfter={after}" + (f"&cursor={cursor}" if cursor else ""),
            key=key,
        )
        found += page["data"]
        cursor = page["nextCursor"]
        if not cursor:
            return found


def fired_at(base: str, key: str, execution_id: str) -> datetime:
    """The slot the trigger item names (its ``timestamp``)."""
    record = call(base, "GET", f"/api/v1/executions/{execution_id}", key=key)
    run = next(r for r in record["nodeRuns"] if r["node"] == "Schedule")
    return datetime.fromisoformat(run["output"][0][0]["json"]["timestamp"]).astimezone(UTC)


def trigger_runs(base: str, key: str) -> int:
    """This process's finished trigger executions, from its /metrics (an instance admin's key)."""
    scrape = urllib.request.Request(base + "/metrics", headers={"X-API-Key": key})
    with urllib.request.urlopen(scrape, timeout=10) as r:
        text = r.read().decode()
    return sum(
        int(float(m))
        for m in re.findall(r'^relayflow_executions_total\{[^}]*mode="trigger"[^}]*\} (\S+)', text, re.M)
    )


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(len(s) * q))], 1) if s else float("nan")


def slot_of(run: dict[str, Any], every_s: int) -> datetime:
    """The latest slot at or before the run's start."""
    started = datetime.fromisoformat(run["startedAt"]).astimezone(UTC).timestamp()
    return datetime.fromtimestamp(started // every_s * every_s, UTC)


def lateness_ms(run: dict[str, Any], slot: datetime) -> float:
    return (datetime.fromisoformat(run["startedAt"]) - slot).total_seconds() * 1000


def analyse(runs: list[dict[str, Any]], ids: set[str], slots: list[datetime], every_s: int) -> dict[str, Any]:
    window = set(slots)
    per_slot: Counter[tuple[str, datetime]] = Counter()
    late: dict[datetime, list[float]] = {at: [] for at in slots}
    statuses: Counter[str] = Counter()
    for r in runs:
        slot = slot_of(r, every_s)
        if r["workflowId"] not in ids or r["mode"] != "trigger" or slot not in window:
            continue
        per_slot[(r["workflowId"], slot)] += 1
        late[slot].append(lateness_ms(r, slot))
        statuses[r["status"]] += 1
    every = [ms for values in late.values() for ms in values]
    expected = len(ids) * len(slots)
    return {
        "slots_expected": expected,
        "executions": sum(per_slot.values()),
        "missed": expected - len(per_slot),
        "doubled": sum(n - 1 for n in per_slot.values()),
        "statuses": dict(statuses),
        "lateness_ms": {
            "p50": pct(every, 0.5),
            "p99": pct(every, 0.99),
            "max": round(max(every), 1) if every else None,
            "mean": round(statistics.fmean(every), 1) if every else None,
        },
        "p99_per_slot_ms": [pct(late[at], 0.99) for at in slots],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--schedulers", type=int, choices=(1, 2), default=1)
    ap.add_argument("--every-s", type=int, default=60, choices=(1, 2, 5, 10, 15, 20, 30, 60))
    ap.add_argument("--database-url", default=None, help="default: SQLite under a fresh RELAYFLOW_HOME")
    ap.add_argument("--server-log", default=None, help="write server i's stderr to PATH.i")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "RELAYFLOW_HOME": home, **UNLIMITED}
        if args.database_url:
            env["RELAYFLOW_DATABASE_URL"] = args.database_url
        key = owner_api_key(env)
        ports = [free_port() for _ in range(args.schedulers)]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for i, port in enumerate(ports):  # one after the other: the first migrates the database
                log = open(f"{args.server_log}.{i}" if args.server_log else os.devnull, "wb")  # noqa: SIM115
                procs.append(start_server(env, port, log))
            t = time.perf_counter()
            ids = set(create_active(bases[0], key, args.schedules, args.every_s))
            setup_s = time.perf_counter() - t
            time.sleep(REFRESH_S + 1)  # every scheduler has refreshed since the last activation
            now = datetime.now(UTC)
            first = datetime.fromtimestamp((now.timestamp() // args.every_s + 1) * args.every_s, UTC)
            if first - now < timedelta(seconds=2):
                first += timedelta(seconds=args.every_s)
            count = max(1, round(args.minutes * 60 / args.every_s))
            slots = [first + timedelta(seconds=args.every_s * i) for i in range(count)]
            time.sleep(max(0.0, (slots[-1] - datetime.now(UTC)).total_seconds()) + 10)
            rss = [round(rss_mb(p.pid), 1) for p in procs]
            fired_by = [trigger_runs(b, key) for b in bases]
            runs = executions_since(bases[0], key, first - timedelta(seconds=1))
            figures = analyse(runs, ids, slots, args.every_s)
            sample = random.Random(9).sample([r for r in runs if r["workflowId"] in ids], min(30, len(runs)))
            mismatched = sum(fired_at(bases[0], key, r["id"]) != slot_of(r, args.every_s) for r in sample)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(60)
    emit(
        "S9",
        {
            "mode": "embedded (SQLite WAL)" if not args.database_url else "PostgreSQL",
            "schedulers": args.schedulers,
            "schedules": args.schedules,
            "every_s": args.every_s,
            "due_slots": len(slots),
            "window": [slots[0].isoformat(), slots[-1].isoformat()],
            "setup_s": round(setup_s, 1),
            **figures,
            "trigger_runs_per_process": fired_by,
            "sample_slot_mismatches": mismatched,
            "rss_mb": rss,
            "targets": {"lateness_p99_ms": 250, "missed": 0, "doubled": 0},
        },
    )


if __name__ == "__main__":
    main()
