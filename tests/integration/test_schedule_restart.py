"""Schedules across restarts and across processes, on real ``relayflow start`` servers.

- Restart: a server fires an active schedule, is stopped with SIGTERM, slots pass, a server on the
  same RELAYFLOW_HOME starts. Misfire policy ``skip`` (the default) leaves the missed slots out;
  ``fireOnce`` fires one catch-up, keyed by the latest missed slot. No slot fires twice.
- F14: two servers on one database fire each slot of several every-second schedules exactly once.

Slot times come from each execution's trigger item (its ``timestamp``), read through the API.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import API
from tests.api.test_server import ServerProcess

FAST_REFRESH = {"RELAYFLOW_SCHEDULER_REFRESH_S": "0.5"}


def scheduled(name: str, rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {
                "name": "Schedule",
                "type": "n8n-nodes-base.scheduleTrigger",
                "typeVersion": 1.2,
                "parameters": {"rule": {"interval": [rule]}},
            },
            {"name": "Done", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {"Schedule": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
    }


def at_seconds(times: list[datetime]) -> dict[str, Any]:
    """A Schedule Trigger rule firing at exactly ``times`` (all within one minute's span)."""
    seconds = ",".join(str(t.second) for t in times)
    return {"field": "cronExpression", "expression": f"{seconds} * * * * *"}


@contextmanager
def running(home: Path, **env: str) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    server = ServerProcess(home, **env)
    try:
        with server.client() as client:
            yield server, client
        assert server.stop() == 0, server.log()
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.close()


def slots_fired(client: httpx.Client, workflow_id: str) -> list[datetime] | None:
    """The slot of every execution of the workflow, ascending (duplicates kept); None while one
    is still running (its node runs are not all stored yet)."""
    page = client.get(f"{API}/executions", params={"workflowId": workflow_id, "limit": 250}).json()
    if any(summary["status"] in ("new", "running") for summary in page["data"]):
        return None
    slots = []
    for summary in page["data"]:
        record = client.get(f"{API}/executions/{summary['id']}").json()
        (run,) = [r for r in record["nodeRuns"] if r["node"] == "Schedule"]
        slots.append(datetime.fromisoformat(run["output"][0][0]["json"]["timestamp"]).astimezone(UTC))
    return sorted(slots)


def executions(client: httpx.Client, workflow_id: str) -> list[dict[str, Any]]:
    page = client.get(f"{API}/executions", params={"workflowId": workflow_id, "limit": 250}).json()
    found: list[dict[str, Any]] = page["data"]
    return found


def _reached(slots: list[datetime] | None, last: datetime) -> list[datetime] | None:
    """``slots`` once they include ``last`` (the wait_for condition), else None."""
    return slots if slots and slots[-1] >= last else None


def wait_until(at: datetime) -> None:
    time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))


@pytest.mark.parametrize("policy", ["skip", "fireOnce"])
def test_slots_missed_while_stopped_follow_the_misfire_policy(tmp_path: Path, policy: str) -> None:
    with running(tmp_path, **FAST_REFRESH) as (server, client):
        t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        # fired by the first server, missed while stopped, fired by the second server
        fired, missed, later = (
            [t0, t0 + timedelta(seconds=1)],
            [t0 + timedelta(seconds=s) for s in (7, 8)],
            [t0 + timedelta(seconds=s) for s in (19, 20)],
        )
        wf = client.post(
            f"{API}/workflows", json=scheduled("restart", at_seconds(fired + missed + later))
        ).json()
        assert client.post(f"{API}/workflows/{wf['id']}/activate").status_code == 200
        server.wait_for(lambda: len(executions(client, wf["id"])) >= 2, deadline_s=15)
        # stopped before the first missed slot is claimed (a claimed slot would still fire)
        assert datetime.now(UTC) < missed[0] - timedelta(seconds=1)
    wait_until(missed[-1] + timedelta(seconds=0.5))
    with running(tmp_path, RELAYFLOW_SCHEDULE_MISFIRE=policy, **FAST_REFRESH) as (server, client):
        slots = server.wait_for(lambda: _reached(slots_fired(client, wf["id"]), later[-1]), deadline_s=25)
        assert {r["status"] for r in executions(client, wf["id"])} == {"succeeded"}
    catch_up = [missed[-1]] if policy == "fireOnce" else []
    assert slots == fired + catch_up + later


@pytest.fixture
def database_url(sql_url: str) -> str:
    """The shared database of the two servers: SQLite (a file) or a fresh PostgreSQL database."""
    return sql_url


def test_two_servers_on_one_database_fire_each_slot_once(tmp_path: Path, database_url: str) -> None:
    env = {"RELAYFLOW_DATABASE_URL": database_url, **FAST_REFRESH}
    every_second = {"field": "seconds", "secondsInterval": 1}
    with running(tmp_path / "a", **env) as (_, a), running(tmp_path / "b", **env) as (second, b):
        ids = [
            a.post(f"{API}/workflows", json=scheduled(f"f14 {i}", every_second)).json()["id"]
            for i in range(4)
        ]
        for wf_id in ids:
            assert a.post(f"{API}/workflows/{wf_id}/activate").status_code == 200
        # both servers have refreshed (0.5 s) once every workflow is active: a window of slots
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        end = start + timedelta(seconds=4)
        wait_until(end + timedelta(seconds=1.5))
        for wf_id in ids:  # stop firing before reading
            assert a.post(f"{API}/workflows/{wf_id}/deactivate").status_code == 200
        window = [start + timedelta(seconds=s) for s in range(5)]
        for wf_id in ids:
            slots = second.wait_for(partial(slots_fired, b, wf_id), deadline_s=10)
            assert not [s for s, n in Counter(slots).items() if n > 1], slots
            assert [s for s in slots if start <= s <= end] == window
