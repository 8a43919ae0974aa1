"""X9: one project cannot see or use another's work.

Two team projects, A and B, each with its own editor, workflow, execution and credential: the
lists never cross, every read of the other project's ids answers 404 (as for an id that does not
exist), an execution in A cannot use B's credential, and static data stays with its workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relayflow.access.model import ProjectRole
from relayflow.api import ApiServices, create_app
from tests.api.conftest import API, assert_problem, hello
from tests.api.test_events import SseClient, parse_sse
from tests.api.test_projects import join, member, team
from tests.api.test_static_data import COUNT
from tests.api.test_webhooks import activate


@dataclass
class Side:
    """One project's editor and work."""

    name: str
    project_id: str
    headers: dict[str, str]
    workflow: dict[str, Any]
    execution: dict[str, Any]
    credential: dict[str, Any]


async def side(client: httpx.AsyncClient, services: ApiServices, name: str) -> Side:
    project = await team(client, name)
    editor, headers = await member(services, f"{name.lower()}@example.com")
    await join(services, project["id"], editor, ProjectRole.EDITOR)
    wf = await client.post(
        f"{API}/workflows",
        params={"projectId": project["id"]},
        json=hello(name=f"{name} flow"),
        headers=headers,
    )
    assert wf.status_code == 201, wf.text
    run = await client.post(f"{API}/workflows/{wf.json()['id']}/run", json={"wait": True}, headers=headers)
    assert run.status_code == 200, run.text
    cred = await client.post(
        f"{API}/credentials",
        params={"projectId": project["id"]},
        json={
            "name": f"{name} token",
            "type": "httpHeaderAuth",
            "data": {"name": "X-Token", "value": f"{name}-s3cret"},
        },
        headers=headers,
    )
    assert cred.status_code == 201, cred.text
    return Side(name, project["id"], headers, wf.json(), run.json(), cred.json())


@pytest.fixture
async def sides(client: httpx.AsyncClient, services: ApiServices) -> tuple[Side, Side]:
    return await side(client, services, "A"), await side(client, services, "B")


async def ids(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> set[str]:
    response = await client.get(f"{API}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]}


async def test_lists_never_cross(client: httpx.AsyncClient, sides: tuple[Side, Side]) -> None:
    for mine, theirs in (sides, sides[::-1]):
        assert await ids(client, "/workflows", mine.headers) == {mine.workflow["id"]}
        assert await ids(client, "/executions", mine.headers) == {mine.execution["id"]}
        assert await ids(client, "/credentials", mine.headers) == {mine.credential["id"]}
        assert theirs.project_id not in await ids(client, "/projects", mine.headers)
        # asking by the other's workflow id filters to nothing, not to theirs
        other = await client.get(
            f"{API}/executions", params={"workflowId": theirs.workflow["id"]}, headers=mine.headers
        )
        assert other.json()["data"] == []
    # the instance owner sees both
    assert {s.workflow["id"] for s in sides} <= await ids(client, "/workflows", dict(client.headers))


async def test_the_live_stream_carries_only_the_callers_executions(
    client: httpx.AsyncClient, services: ApiServices, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    async with SseClient(create_app(services), f"{API}/events", a.headers["X-API-Key"]) as sse:
        assert await sse.block() == ": connected"
        theirs = await client.post(
            f"{API}/workflows/{b.workflow['id']}/run", json={"wait": True}, headers=b.headers
        )
        mine = await client.post(
            f"{API}/workflows/{a.workflow['id']}/run", json={"wait": True}, headers=a.headers
        )
        events: list[tuple[str, dict[str, Any]]] = []
        while not any(name == "execution.finished" for name, _ in events):
            events += parse_sse(await sse.block() + "\n\n")
    # B's run came first: had it leaked, it would be here before A's end
    assert {data["executionId"] for _, data in events} == {mine.json()["id"]}
    assert theirs.json()["id"] not in str(events)


def reads_of(other: Side) -> list[str]:
    """Every GET that names one of ``other``'s objects."""
    wf, ex, cred, project = (
        other.workflow["id"],
        other.execution["id"],
        other.credential["id"],
        other.project_id,
    )
    return [
        f"/workflows/{wf}",
        f"/workflows/{wf}/versions",
        f"/workflows/{wf}/versions/{other.workflow['versionId']}",
        f"/workflows/{wf}/export",
        f"/executions/{ex}",
        f"/executions/{ex}/events",
        f"/credentials/{cred}",
        f"/credentials/{cred}/oauth2/authorize",
        f"/projects/{project}",
        f"/projects/{project}/members",
    ]


async def test_the_other_projects_ids_answer_404_like_missing_ones(
    client: httpx.AsyncClient, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    for mine, theirs in ((a, b), (b, a)):
        for path in reads_of(theirs):
            hidden = await client.get(f"{API}{path}", headers=mine.headers)
            body = assert_problem(hidden, 404, "not_found")
            assert theirs.name + " " not in hidden.text and "s3cret" not in hidden.text, path
            assert body["detail"], path
        # and the owner of the instance reads them all
        for path in reads_of(theirs):
            assert (await client.get(f"{API}{path}")).status_code != 404, path


async def test_an_execution_cannot_use_another_projects_credential(
    client: httpx.AsyncClient, services: ApiServices, sides: tuple[Side, Side]
) -> None:
    try:
        await _borrow(client, sides)
    finally:
        # the HTTP Request node's pooled session (the server closes it at shutdown)
        await services.engine.services.http.close()


async def _borrow(client: httpx.AsyncClient, sides: tuple[Side, Side]) -> None:
    a, b = sides

    def flow(cred: dict[str, Any]) -> dict[str, Any]:
        call = {
            "name": "Call",
            "type": "n8n-nodes-base.httpRequest",
            "typeVersion": 4.2,
            "parameters": {
                "url": "http://relayflow.invalid/",
                "authentication": "genericCredentialType",
                "genericAuthType": "httpHeaderAuth",
                "options": {},
            },
            "credentials": {"httpHeaderAuth": {"id": cred["id"], "name": cred["name"]}},
        }
        start = {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}}
        return {
            "name": "Borrower",
            "nodes": [start, call],
            "connections": {"Start": {"main": [[{"node": "Call", "type": "main", "index": 0}]]}},
        }

    async def run(cred: dict[str, Any]) -> dict[str, Any]:
        wf = await client.post(
            f"{API}/workflows", params={"projectId": a.project_id}, json=flow(cred), headers=a.headers
        )
        assert wf.status_code == 201, wf.text
        answer = await client.post(
            f"{API}/workflows/{wf.json()['id']}/run", json={"wait": True}, headers=a.headers
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    borrowed = await run(b.credential)
    assert borrowed["status"] == "failed"
    assert borrowed["error"]["code"] == "credential_unavailable"
    assert "B-s3cret" not in str(borrowed)
    # by name alone neither: B's name does not resolve among A's credentials
    by_name = await run({"id": "", "name": b.credential["name"]})
    assert by_name["error"]["code"] == "credential_unavailable"
    # the control: A's own credential resolves (the call then fails on its unknown host)
    own = await run(a.credential)
    assert own["status"] == "failed" and own["error"]["code"] != "credential_unavailable"
    # moved to B (by the instance owner), a workflow resolves its credentials in B at once, though
    # the vault had just resolved A's credential for it
    made = await client.post(
        f"{API}/workflows", params={"projectId": a.project_id}, json=flow(a.credential), headers=a.headers
    )
    wf_id = made.json()["id"]
    warm = await client.post(f"{API}/workflows/{wf_id}/run", json={"wait": True}, headers=a.headers)
    assert warm.json()["error"]["code"] != "credential_unavailable"
    moved = await client.put(f"{API}/workflows/{wf_id}/transfer", json={"projectId": b.project_id})
    assert moved.status_code == 200, moved.text
    after = await client.post(f"{API}/workflows/{wf_id}/run", json={"wait": True}, headers=b.headers)
    assert after.status_code == 200, after.text
    assert after.json()["error"]["code"] == "credential_unavailable"


def counter(path: str) -> dict[str, Any]:
    """A webhook at ``path`` that counts its calls in the workflow's static data."""
    hook = {
        "name": "Hook",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "parameters": {"httpMethod": "POST", "path": path, "responseMode": "lastNode"},
    }
    count = {
        "name": "Count",
        "type": "n8n-nodes-base.code",
        "typeVersion": 2,
        "parameters": {"jsCode": COUNT},
    }
    return {
        "name": f"Counter {path}",
        "nodes": [hook, count],
        "connections": {"Hook": {"main": [[{"node": "Count", "type": "main", "index": 0}]]}},
    }


async def test_static_data_is_not_shared_between_projects(
    client: httpx.AsyncClient, services: ApiServices, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    first = await activate(client, counter("count-a"))
    second = await activate(client, counter("count-b"))
    await client.put(f"{API}/workflows/{first}/transfer", json={"projectId": a.project_id})
    await client.put(f"{API}/workflows/{second}/transfer", json={"projectId": b.project_id})
    assert [(await client.post("/webhook/count-a", json={})).json() for _ in range(3)][-1] == {"calls": 3}
    assert (await client.post("/webhook/count-b", json={})).json() == {"calls": 1}
    in_a = (await client.get(f"{API}/workflows/{first}", headers=a.headers)).json()
    in_b = (await client.get(f"{API}/workflows/{second}", headers=b.headers)).json()
    assert in_a["staticData"] == {"global": {"calls": 3}}
    assert in_b["staticData"] == {"global": {"calls": 1}}
    assert_problem(await client.get(f"{API}/workflows/{first}", headers=b.headers), 404, "not_found")
