"""The workflow's save settings through the API, and the server's background pruning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import API, assert_problem, hello
from tests.api.test_server import ServerProcess, _healthy


async def run(client: httpx.AsyncClient, workflow_id: str) -> dict[str, Any]:
    answer = await client.post(
        f"{API}/workflows/{workflow_id}/run", json={"input": {"name": "Ada"}, "wait": True}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_save_settings_decide_which_executions_are_kept(client: httpx.AsyncClient) -> None:
    dropped = await client.post(f"{API}/workflows", json=hello(settings={"saveManualExecutions": False}))
    kept = await client.post(f"{API}/workflows", json=hello(settings={"saveDataSuccessExecution": "all"}))
    gone = await run(client, dropped.json()["id"])
    assert gone["data"] == [{"name": "Ada", "greeting": "Hello, Ada!"}]  # it ran, and answered
    assert_problem(await client.get(f"{API}/executions/{gone['id']}"), 404, "not_found")
    stays = await run(client, kept.json()["id"])
    stored = (await client.get(f"{API}/executions/{stays['id']}")).json()
    assert [r["node"] for r in stored["nodeRuns"]] == ["Start", "Greet"]


def test_the_server_prunes_executions_in_the_background(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, RELAYFLOW_EXECUTIONS_MAX_COUNT="3", RELAYFLOW_PRUNE_INTERVAL_S="0.2")
    try:
        with server.client() as client:
            server.wait_for(lambda: _healthy(client))
            workflow_id = client.post(f"{API}/workflows", json=hello()).json()["id"]
            ids = [
                client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True}).json()["id"]
                for _ in range(6)
            ]

            def listed() -> list[str]:
                return [e["id"] for e in client.get(f"{API}/executions").json()["data"]]

            server.wait_for(lambda: len(listed()) == 3)
            assert listed() == list(reversed(ids[3:]))  # the newest three are kept
        assert server.stop() == 0, server.log()
    finally:
        server.close()
