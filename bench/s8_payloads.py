"""S8: big payloads. (a) S1 (Webhook → Set → respond with the last node, executions saved) with
16 KB and 160 KB JSON bodies; (b) a 2 MB file: upload → Write File → Read File → answered back
with Respond to Webhook (binary), executions saved with their binary data.

Starts `relayflow start` (embedded: SQLite in a fresh RELAYFLOW_HOME; binary data on disk under
it; RELAYFLOW_FILES_ROOT in it too), drives each webhook with wrk (closed loop, 20 connections)
and samples the server's RSS every second: "flat RSS" means the last third of the run holds no
more than the first third plus a small margin. Checks one answer of each scenario byte for byte.

Each (b) request writes 6 MB (the upload into the binary store, the file, the file read back
into the store): at 100 requests/s that is 600 MB/s, more than many disks sustain (this
machine's: 160 MB/s with dd). ``--home-parent /dev/shm`` puts the server's home on tmpfs to
measure relayflow rather than the disk; the figures say which they are.

Needs wrk (`apt-get install wrk`).

    python -m bench.s8_payloads [--connections 20] [--seconds 20] [--only a16,a160,b]
                                [--home-parent /dev/shm]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from typing import Any

from bench.common import UNLIMITED, emit, node, owner_api_key
from bench.s1_webhook import WORKFLOW as S1
from bench.s1_webhook import call, parse_wrk, wait_healthy
from bench.s11_start import free_port, rss_mb

FILE_MB = 2

FILES: dict[str, Any] = {
    "name": "S8 files",
    "nodes": [
        node(
            "Webhook",
            "n8n-nodes-base.webhook",
            2,
            {"httpMethod": "POST", "path": "s8-file", "responseMode": "responseNode", "options": {}},
            0,
        ),
        # one of 64 files per request (a file per request would fill the disk at 100 req/s)
        node(
            "Write",
            "n8n-nodes-base.readWriteFile",
            1,
            {"operation": "write", "fileName": "=s8/{{ $execution.id.slice(0, 2) }}.bin", "options": {}},
            200,
        ),
        node(
            "Read",
            "n8n-nodes-base.readWriteFile",
            1,
            {"fileSelector": "={{ $json.fileName }}", "options": {}},
            400,
        ),
        node(
            "Respond", "n8n-nodes-base.respondToWebhook", 1.1, {"respondWith": "binary", "options": {}}, 600
        ),
    ],
    "connections": {
        "Webhook": {"main": [[{"node": "Write", "type": "main", "index": 0}]]},
        "Write": {"main": [[{"node": "Read", "type": "main", "index": 0}]]},
        "Read": {"main": [[{"node": "Respond", "type": "main", "index": 0}]]},
    },
}


def json_body(size: int) -> bytes:
    """A JSON object of about ``size`` bytes: S1's price and qty plus a list of records."""
    rows = []
    body: dict[str, Any] = {"price": 2.5, "qty": 4, "rows": rows}
    while len(json.dumps(body)) < size:
        rows.append({"id": len(rows), "name": f"customer {len(rows)}", "email": f"c{len(rows)}@example.com"})
    return json.dumps(body).encode()


def lua(path: str, content_type: str) -> str:
    return (
        'wrk.method = "POST"\n'
        f'local f = io.open("{path}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
    )


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(rss_mb(self.pid))

    def summary(self) -> dict[str, Any]:
        s = self.samples or [0.0]
        third = max(1, len(s) // 3)
        first, last = statistics.median(s[:third]), statistics.median(s[-third:])
        return {
            "rss_mb_first_third": round(first, 1),
            "rss_mb_last_third": round(last, 1),
            "rss_mb_max": round(max(s), 1),
            "rss_flat": last <= first * 1.1 + 10,
            "rss_mb_every_5s": [round(x) for x in s[::5]],
        }


def drive(base: str, path: str, script: str, connections: int, seconds: int, pid: int) -> dict[str, Any]:
    sampler = RssSampler(pid)
    sampler.start()
    cmd = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "-s",
        script,
        base + path,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    sampler.stop.set()
    sampler.join()
    return {**parse_wrk(out), **sampler.summary()}


def post(base: str, path: str, body: bytes, content_type: str) -> bytes:
    req = urllib.request.Request(
        base + path, data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        data: bytes = r.read()
        return data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--only", default="a16,a160,b")
    ap.add_argument(
        "--home-parent",
        default=None,
        help="where the server's RELAYFLOW_HOME (database, binary data, files root) is made; "
        "e.g. /dev/shm to take the disk's write bandwidth out of the figure",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("S8 needs wrk: apt-get install wrk")
    wanted = set(args.only.split(","))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.home_parent) as home:
        env = {
            **os.environ,
            "RELAYFLOW_HOME": home,
            "RELAYFLOW_PORT": str(port),
            "RELAYFLOW_FILES_ROOT": os.path.join(home, "files"),
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
            s1 = copy.deepcopy(S1)
            wf = call(base, "POST", "/api/v1/workflows", s1, key=key)
            call(base, "POST", f"/api/v1/workflows/{wf['id']}/activate", key=key)
            for size in (16, 160):
                if f"a{size}" not in wanted:
                    continue
                body = json_body(size * 1000)
                assert json.loads(post(base, "/webhook/s1", body, "application/json")) == {"total": 10}
                path = os.path.join(home, f"a{size}.json")
                with open(path, "wb") as f:
                    f.write(body)
                script = os.path.join(home, f"a{size}.lua")
                with open(script, "w") as f:
                    f.write(lua(path, "application/json"))
                figures = drive(base, "/webhook/s1", script, args.connections, args.seconds, proc.pid)
                results[f"a_{size}kb_json"] = {"body_bytes": len(body), **figures}
            if "b" in wanted:
                wf = call(base, "POST", "/api/v1/workflows", FILES, key=key)
                call(base, "POST", f"/api/v1/workflows/{wf['id']}/activate", key=key)
                payload = os.urandom(FILE_MB * 1024 * 1024)
                assert post(base, "/webhook/s8-file", payload, "application/octet-stream") == payload
                path = os.path.join(home, "file.bin")
                with open(path, "wb") as f:
                    f.write(payload)
                script = os.path.join(home, "file.lua")
                with open(script, "w") as f:
                    f.write(lua(path, "application/octet-stream"))
                figures = drive(base, "/webhook/s8-file", script, args.connections, args.seconds, proc.pid)
                results[f"b_{FILE_MB}mb_file"] = {"body_bytes": len(payload), **figures}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    emit(
        "S8",
        {
            "mode": "embedded (SQLite WAL, history and binary data saved)",
            "home_parent": args.home_parent or tempfile.gettempdir(),
            "connections": args.connections,
            "seconds": args.seconds,
            **results,
            "targets": {"a_160kb_exec_per_s": 500, "b_2mb_req_per_s": 100, "b_rss": "flat"},
        },
    )


if __name__ == "__main__":
    main()
