"""F15 on the real server process: ``relayflow start`` keeps webhook idempotency keys in its
database (tests/api/test_webhook_idempotency.py covers the behaviour in process)."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import API, assert_problem
from tests.api.test_server import ServerProcess
from tests.api.test_webhooks import hook_workflow

REPLAYED = "idempotent-replayed"


def test_a_real_server_keeps_keys_in_its_database_across_a_restart(tmp_path: Path) -> None:
    """``relayflow start`` claims in its database: a delivery repeated after a restart runs nothing."""
    server = ServerProcess(tmp_path)
    try:
        with server.client() as http:
            created = http.post(f"{API}/workflows", json=hook_workflow("durable"))
            assert created.status_code == 201, created.text
            workflow_id = created.json()["id"]
            assert http.post(f"{API}/workflows/{workflow_id}/activate").status_code == 200
            first = http.post("/webhook/durable", json={"name": "Ada"}, headers={"Idempotency-Key": "d1"})
            assert first.status_code == 200, first.text
        assert server.stop() == 0
    finally:
        server.close()
    again_server = ServerProcess(tmp_path)
    try:
        with again_server.client() as http:
            again = http.post("/webhook/durable", json={"name": "Ada"}, headers={"Idempotency-Key": "d1"})
            assert again.status_code == 200, again.text
            assert again.headers[REPLAYED] == "true"
            assert again.json() == first.json()
            other = http.post("/webhook/durable", json={"name": "Bob"}, headers={"Idempotency-Key": "d1"})
            assert_problem(other, 409, "idempotency_conflict")
            listed = http.get(f"{API}/executions", params={"workflowId": workflow_id})
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["data"]) == 1
    finally:
        again_server.close()
