"""A webhook's workflow is read and parsed once per registered version, not on every call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relayflow.api import ApiServices
from relayflow.api.webhook_routes import ParsedWorkflow
from relayflow.nodes.registry import Registry
from relayflow.workflow.parse import parse_workflow
from tests.api.conftest import API
from tests.api.test_webhooks import activate, hook_workflow


@pytest.fixture
def store_reads(services: ApiServices, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The workflow ids the webhook path reads from the store, in order."""
    reads: list[str] = []
    get = services.workflows.get

    async def counted(workflow_id: str) -> Any:
        reads.append(workflow_id)
        return await get(workflow_id)

    monkeypatch.setattr(services.workflows, "get", counted)
    return reads


async def test_calls_after_the_first_neither_read_nor_parse(
    client: httpx.AsyncClient, store_reads: list[str]
) -> None:
    workflow_id = await activate(client, hook_workflow())
    store_reads.clear()
    for name in ("A", "B", "C"):
        response = await client.post("/webhook/hello", json={"name": name})
        assert response.json()["greeting"] == name
    assert store_reads == [workflow_id]


async def test_an_update_runs_the_new_version(client: httpx.AsyncClient, store_reads: list[str]) -> None:
    workflow_id = await activate(client, hook_workflow())
    assert (await client.post("/webhook/hello", json={"name": "A"})).json()["greeting"] == "A"
    current = (await client.get(f"{API}/workflows/{workflow_id}")).json()
    current["nodes"][1]["parameters"]["assignments"]["assignments"][0]["value"] = "=Hi {{ $json.body.name }}"
    assert (await client.put(f"{API}/workflows/{workflow_id}", json=current)).status_code == 200
    store_reads.clear()
    for _ in range(2):
        assert (await client.post("/webhook/hello", json={"name": "B"})).json()["greeting"] == "Hi B"
    assert store_reads == [workflow_id]  # the new version is cached in turn


def test_a_stored_version_other_than_the_registered_one_is_not_kept(services: ApiServices) -> None:
    """A request reading the store between a change of routes and the store's update."""
    registry: Registry = services.registry
    registered = {**hook_workflow(), "id": "w1", "versionId": "2", "active": True}
    older = {**hook_workflow("older"), "id": "w1", "versionId": "1", "active": True}
    parsed = ParsedWorkflow(registered)
    parsed.offer(older, parse_workflow(older, source="older", registry=registry))
    assert parsed.workflow is None
    # the same content under other store fields (a new versionId, timestamps) is the same workflow
    same = {**registered, "versionId": "3", "updatedAt": "2026-01-01T00:00:00Z"}
    wf = parse_workflow(same, source="same", registry=registry)
    parsed.offer(same, wf)
    assert parsed.workflow is wf
