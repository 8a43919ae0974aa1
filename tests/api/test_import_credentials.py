"""Importing an n8n workflow: its credential references are kept, resolved against the credentials
of the workflow's project (by id, else by type and name, rewriting the id), and the answer's
``credentialsReport`` lists what resolved and what is missing."""

from __future__ import annotations

from typing import Any

import httpx

from relayflow.access.model import InstanceRole
from relayflow.api import ApiServices
from tests.api.conftest import API


def http(name: str, type_: str, ref: dict[str, Any]) -> dict[str, Any]:
    """An HTTP Request node as the n8n corpus has them (a generic credential by id and name)."""
    return {
        "parameters": {
            "url": "https://api.example.com/v1/scrape",
            "authentication": "genericCredentialType",
            "genericAuthType": type_,
            "options": {},
        },
        "id": f"id-{name}",
        "name": name,
        "type": "n8n-nodes-base.httpRequest",
        "typeVersion": 4.2,
        "position": [200, 0],
        "credentials": {type_: ref},
    }


def exported(*nodes: dict[str, Any]) -> dict[str, Any]:
    trigger = {
        "parameters": {},
        "id": "id-start",
        "name": "Start",
        "type": "n8n-nodes-base.manualTrigger",
        "typeVersion": 1,
        "position": [0, 0],
    }
    return {
        "name": "Imported from n8n",
        "nodes": [trigger, *nodes],
        "connections": {
            "Start": {"main": [[{"node": n["name"], "type": "main", "index": 0} for n in nodes]]}
        },
        "settings": {"executionOrder": "v1"},
        "pinData": {},
        "meta": {"instanceId": "0123abcd"},
    }


async def make(client: httpx.AsyncClient, type_: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{API}/credentials", json={"name": name, "type": type_, "data": data})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_import_report_resolves_by_id_then_by_name_and_lists_the_missing(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    firecrawl = await make(
        client, "httpHeaderAuth", "Firecrawl", {"name": "Authorization", "value": "Bearer fc"}
    )
    by_id = await make(client, "httpQueryAuth", "Query Auth account", {"name": "key", "value": "qv-1"})
    # same name, other type: never taken for a header credential
    await make(client, "httpBasicAuth", "Anthropic API Key", {"user": "u", "password": "p-123"})
    workflow = exported(
        http("Scrape", "httpHeaderAuth", {"id": "JHkHTppUOMRTBBf0", "name": "Firecrawl"}),
        http("Search", "httpQueryAuth", {"id": by_id["id"], "name": "renamed since"}),
        http("Claude", "httpHeaderAuth", {"id": "NUyoQ0Dq1ABvkufU", "name": "Anthropic API Key"}),
    )
    response = await client.post(f"{API}/workflows", json=workflow)
    assert response.status_code == 201, response.text
    body = response.json()
    # the usual fields are all there
    for key in ("id", "name", "active", "versionId", "nodes", "connections", "projectId", "createdAt"):
        assert key in body, key
    report = body["credentialsReport"]
    assert report["resolved"] == [
        {"node": "Scrape", "type": "httpHeaderAuth", "id": firecrawl["id"], "name": "Firecrawl"},
        {"node": "Search", "type": "httpQueryAuth", "id": by_id["id"], "name": "Query Auth account"},
    ]
    assert report["missing"] == [{"node": "Claude", "type": "httpHeaderAuth", "name": "Anthropic API Key"}]

    # kept by type and name; resolved by name: the id now points at the local credential
    stored = (await client.get(f"{API}/workflows/{body['id']}")).json()
    refs = {n["name"]: n.get("credentials") for n in stored["nodes"]}
    assert refs["Scrape"] == {"httpHeaderAuth": {"id": firecrawl["id"], "name": "Firecrawl"}}
    assert refs["Search"] == {"httpQueryAuth": {"id": by_id["id"], "name": "renamed since"}}
    assert refs["Claude"] == {"httpHeaderAuth": {"id": "NUyoQ0Dq1ABvkufU", "name": "Anthropic API Key"}}
    vault = services.engine.services.credentials
    assert vault is not None
    data = await vault.get("httpHeaderAuth", refs["Scrape"]["httpHeaderAuth"], workflow_id=body["id"])
    assert data["value"] == "Bearer fc"


async def test_other_projects_credentials_count_only_when_shared(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    member = await services.access.create_user("m@example.com", "M", "member-password-1", InstanceRole.MEMBER)
    token = (await services.access.issue_api_key(member, "t")).token
    theirs = await client.post(
        f"{API}/credentials",
        json={"name": "Firecrawl", "type": "httpHeaderAuth", "data": {"name": "X", "value": "theirs-1"}},
        headers={"X-API-Key": token},
    )
    assert theirs.status_code == 201, theirs.text
    theirs_id = theirs.json()["id"]
    workflow = exported(http("Scrape", "httpHeaderAuth", {"id": theirs_id, "name": "Firecrawl"}))

    first = (await client.post(f"{API}/workflows", json=workflow)).json()
    assert first["credentialsReport"] == {
        "resolved": [],
        "missing": [{"node": "Scrape", "type": "httpHeaderAuth", "name": "Firecrawl"}],
    }
    owner_project = first["projectId"]
    # the instance owner administers every project: it shares the member's credential
    shared = await client.put(f"{API}/credentials/{theirs_id}/share", json={"projectIds": [owner_project]})
    assert shared.status_code == 200, shared.text
    second = (await client.post(f"{API}/workflows", json=workflow)).json()
    assert second["credentialsReport"]["resolved"] == [
        {"node": "Scrape", "type": "httpHeaderAuth", "id": theirs_id, "name": "Firecrawl"}
    ]
    assert second["credentialsReport"]["missing"] == []


async def test_a_workflow_without_credential_references_has_no_report(client: httpx.AsyncClient) -> None:
    body = (await client.post(f"{API}/workflows", json=exported())).json()
    assert "credentialsReport" not in body
    assert "credentialsReport" not in (await client.get(f"{API}/workflows/{body['id']}")).json()


async def test_the_report_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    schema = (await client.get(f"{API}/openapi.json")).json()
    workflow_out = schema["components"]["schemas"]["WorkflowOut"]
    assert "credentialsReport" in workflow_out["properties"]
    assert "CredentialsReport" in schema["components"]["schemas"]
