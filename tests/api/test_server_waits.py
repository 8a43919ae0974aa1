"""Durable waits across a real restart: ``relayflow start``, park, SIGTERM, start again on the
same RELAYFLOW_HOME; the timer fires and the resume URL answers in the new process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_server import ServerProcess, _healthy
from tests.api.test_waits import call_workflow, outputs, timer_workflow

API = "/api/v1"


def _create(client: httpx.Client, workflow: dict[str, Any], *, active: bool = False) -> str:
    created = client.post(f"{API}/workflows", json=workflow)
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    if active:
        assert client.post(f"{API}/workflows/{workflow_id}/activate").status_code == 200
    return workflow_id


def _status(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    got = client.get(f"{API}/executions/{execution_id}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def test_parked_executions_resume_after_a_restart(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path)
    try:
        with first.client() as client:
            first.wait_for(lambda: _healthy(client))
            timer_id = _create(client, timer_workflow(3))
            timed = client.post(f"{API}/workflows/{timer_id}/run", json={"wait": True}).json()
            assert timed["status"] == "waiting", timed
            hook_id = _create(client, call_workflow(), active=True)
            assert client.post("/webhook/approve", json={"who": "Ada"}).status_code == 200
            [called] = client.get(f"{API}/executions", params={"workflowId": hook_id}).json()["data"]
            first.wait_for(lambda: _status(client, called["id"])["status"] == "waiting")
        assert first.stop() == 0, first.log()
    finally:
        first.close()
    time.sleep(1)  # the server is down while the timer is (nearly) due
    second = ServerProcess(tmp_path)
    try:
        with second.client() as client:
            second.wait_for(lambda: _healthy(client))
            assert "1 waiting execution(s) have timers" in second.log()
            url = f"/webhook-waiting/{called['id']}"
            answer = client.post(url, json={"decision": "approved"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["decision"] == "approved by Ada"
            done = second.wait_for(
                lambda: _status(client, timed["id"])["status"] == "succeeded" and _status(client, timed["id"])
            )
            assert [r["node"] for r in done["nodeRuns"]] == ["Start", "Before", "Wait", "After"]
            assert outputs(done, "After") == [{"before": timed["id"], "after": timed["id"]}]
        assert second.stop() == 0, second.log()
        assert "Traceback" not in second.log()
    finally:
        second.close()
