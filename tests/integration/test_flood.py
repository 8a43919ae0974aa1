"""F8, webhook flood beyond capacity, against a real ``relayflow start``: every answer is 2xx, 429
or 503 with Retry-After; the server's memory stays bounded; every accepted request's execution
ends succeeded in the store."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import API
from tests.api.test_server import ServerProcess

MAX_IN_FLIGHT = 4
WAVES, PER_WAVE = 5, 40  # 200 requests, 40 at a time, against 4 slots of 0.2 s each
RSS_GROWTH_BOUND_MB = 150


def slow_webhook(mode: str) -> dict[str, Any]:
    """POST /webhook/flood → Wait 0.2 s (in process, not parked) → answer per ``mode``."""
    return {
        "name": f"flood {mode}",
        "nodes": [
            {
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "parameters": {"httpMethod": "POST", "path": f"flood-{mode}", "responseMode": mode},
            },
            {
                "name": "Wait",
                "type": "n8n-nodes-base.wait",
                "typeVersion": 1.1,
                "parameters": {"amount": 0.2, "unit": "seconds"},
            },
        ],
        "connections": {"Webhook": {"main": [[{"node": "Wait", "type": "main", "index": 0}]]}},
    }


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; ``peak_mb`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb = pid, rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, RELAYFLOW_MAX_IN_FLIGHT=str(MAX_IN_FLIGHT))
    yield proc
    proc.close()


async def _flood(client: httpx.AsyncClient, path: str) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    for _ in range(WAVES):
        wave = [client.post(path, json={"n": i}) for i in range(PER_WAVE)]
        answers += await asyncio.gather(*wave)
        await asyncio.sleep(0.1)
    return answers


async def _executions(client: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = (await client.get(f"{API}/executions?workflowId={workflow_id}&limit=250{cursor}")).json()
        found += page["data"]
        if not page["nextCursor"]:
            return found
        cursor = f"&cursor={page['nextCursor']}"


async def _settled(client: httpx.AsyncClient, workflow_id: str, count: int) -> list[dict[str, Any]]:
    """The workflow's executions once ``count`` of them have ended (deadline 20 s)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while True:
        runs = await _executions(client, workflow_id)
        if sum(r["status"] not in ("new", "running") for r in runs) >= count or loop.time() > end:
            return runs
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("mode", ["onReceived", "lastNode"])
async def test_a_flood_is_shed_with_503_and_accepted_work_completes(server: ServerProcess, mode: str) -> None:
    limits = httpx.Limits(max_connections=PER_WAVE, max_keepalive_connections=PER_WAVE)
    async with server.async_client(timeout=30, limits=limits) as client:
        created = (await client.post(f"{API}/workflows", json=slow_webhook(mode))).json()
        assert (await client.post(f"{API}/workflows/{created['id']}/activate")).status_code == 200
        with PeakRss(server.proc.pid) as rss:
            baseline_mb = rss.peak_mb
            answers = await _flood(client, f"/webhook/flood-{mode}")
        statuses = Counter(a.status_code for a in answers)
        assert set(statuses) <= {200, 429, 503}, statuses
        accepted, shed = statuses[200], statuses[429] + statuses[503]
        assert accepted + shed == WAVES * PER_WAVE
        # beyond capacity: most of each wave is shed, and some of it gets through
        assert shed > WAVES * PER_WAVE // 2 and accepted >= WAVES, statuses
        for answer in answers:
            if answer.status_code == 503:
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["code"] == "overloaded"
        runs = await _settled(client, created["id"], accepted)
        assert len(runs) == accepted  # a shed request started nothing
        assert Counter(r["status"] for r in runs) == {"succeeded": accepted}
        assert (await client.get("/healthz")).status_code == 200
    assert rss.peak_mb - baseline_mb < RSS_GROWTH_BOUND_MB, (baseline_mb, rss.peak_mb)
    assert server.stop() == 0, server.log()
    assert "Traceback" not in server.log()
