"""Webhook paths are held in the registry (the database under the server): two servers on one
database cannot both activate a workflow on the same path."""

from __future__ import annotations

from pathlib import Path

import httpx

from relayflow.api import ApiServices
from tests.api.conftest import API, assert_problem
from tests.api.test_server import ServerProcess, _healthy
from tests.api.test_webhooks import activate, hook_workflow


async def test_activation_records_the_paths_and_deactivation_frees_them(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    workflow_id = await activate(client, hook_workflow("orders/:id"))
    assert [(e.method, e.workflow_id) for e in await services.webhook_registry.all()] == [
        ("POST", workflow_id)
    ]
    other = await client.post(f"{API}/workflows", json=hook_workflow("orders/:key"))
    # the same route with another parameter name is the same path
    assert_problem(await client.post(f"{API}/workflows/{other.json()['id']}/activate"), 409, "conflict")
    assert (await client.post(f"{API}/workflows/{workflow_id}/deactivate")).status_code == 200
    assert await services.webhook_registry.all() == []
    assert (await client.post(f"{API}/workflows/{other.json()['id']}/activate")).status_code == 200


def test_two_servers_on_one_database_share_the_rule(tmp_path: Path) -> None:
    first, second = ServerProcess(tmp_path), ServerProcess(tmp_path)
    try:
        with first.client() as one, second.client() as two:
            first.wait_for(lambda: _healthy(one))
            second.wait_for(lambda: _healthy(two))
            a = one.post(f"{API}/workflows", json=hook_workflow("shared")).json()["id"]
            b = two.post(f"{API}/workflows", json=hook_workflow("shared")).json()["id"]
            assert one.post(f"{API}/workflows/{a}/activate").status_code == 200
            refused = two.post(f"{API}/workflows/{b}/activate")
            assert refused.status_code == 409, refused.text
            assert a in refused.json()["detail"]
            assert two.get(f"{API}/workflows/{b}").json()["active"] is False
        assert first.stop() == 0 and second.stop() == 0
    finally:
        first.close()
        second.close()
