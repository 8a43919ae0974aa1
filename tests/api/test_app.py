"""The app around the routes: problem+json, probes, OpenAPI, node types, the auth hook."""

from __future__ import annotations

import httpx
from fastapi import HTTPException

from relayflow.api import ApiServices, build_services, create_app
from relayflow.api.security import authenticate
from relayflow.errors import OperationalError
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.ports import Page, StoredWorkflow, WorkflowQuery
from tests.api.conftest import API, assert_problem, owner_key


def _client(app: object, api_key: str | None = None) -> httpx.AsyncClient:
    """A client of ``app``, anonymous unless given an API key."""
    headers = {} if api_key is None else {"X-API-Key": api_key}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://relayflow.test",
        headers=headers,
    )


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get(f"{API}/nothing"), 404, "not_found")
    assert problem["detail"] == f"no route GET {API}/nothing"
    assert problem["instance"] == f"{API}/nothing"
    assert_problem(await client.delete(f"{API}/node-types"), 405, "method_not_allowed")


async def test_an_unexpected_exception_is_500_without_a_traceback(services: ApiServices) -> None:
    app = create_app(services)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with _client(app) as c:
        problem = assert_problem(await c.get("/boom"), 500, "internal_error")
    assert "secret internals" not in problem["detail"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}


class _DownWorkflowStore(MemoryWorkflowStore):
    """A store whose database went away (fault injection for /readyz)."""

    async def find(self, query: WorkflowQuery) -> Page[StoredWorkflow]:
        raise OperationalError("database unreachable")


async def test_readyz_is_503_when_a_store_does_not_answer() -> None:
    services = build_services(_DownWorkflowStore(), MemoryExecutionStore())
    async with _client(create_app(services), await owner_key(services)) as c:
        assert (await c.get("/healthz")).status_code == 200
        problem = assert_problem(await c.get("/readyz"), 503, "not_ready")
        assert "database unreachable" in problem["detail"]
        listed = await c.get(f"{API}/workflows")
        assert_problem(listed, 503, "operational_error")


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get(f"{API}/openapi.json")).json()
    for path in (
        f"{API}/workflows",
        f"{API}/workflows/{{workflow_id}}",
        f"{API}/workflows/{{workflow_id}}/run",
        f"{API}/workflows/{{workflow_id}}/rollback",
        f"{API}/executions/{{execution_id}}/stop",
        f"{API}/node-types/{{node_type}}",
    ):
        assert path in spec["paths"], path
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_node_types_list_and_describe(client: httpx.AsyncClient) -> None:
    listed = (await client.get(f"{API}/node-types")).json()["data"]
    by_type = {d["type"]: d for d in listed}
    assert "n8n-nodes-base.set" in {a["type"] for a in by_type["relayflow.set"]["aliases"]}
    assert "parameters" not in by_type["relayflow.set"]

    described = (await client.get(f"{API}/node-types/n8n-nodes-base.set")).json()
    assert described["type"] == "relayflow.set"
    assert described["parameters"]["type"] == "object"
    ours = (await client.get(f"{API}/node-types/relayflow.set", params={"version": 1})).json()
    assert ours["version"] == 1
    assert_problem(await client.get(f"{API}/node-types/acme.nothing"), 404, "not_found")
    assert_problem(await client.get(f"{API}/node-types/relayflow.set?version=99"), 404, "not_found")


async def test_the_auth_hook_wraps_every_api_route_but_not_the_probes(services: ApiServices) -> None:
    app = create_app(services)

    async def refuse() -> None:
        raise HTTPException(status_code=401, detail="who are you?")

    app.dependency_overrides[authenticate] = refuse
    async with _client(app) as c:
        for path in ("/workflows", "/workflows/x", "/executions", "/node-types"):
            assert_problem(await c.get(f"{API}{path}"), 401, "unauthorized")
        assert (await c.get("/healthz")).status_code == 200


async def test_api_routes_refuse_a_caller_without_a_valid_key(services: ApiServices) -> None:
    app = create_app(services)
    key = await owner_key(services)
    routes = (f"{API}/workflows", f"{API}/workflows/x", f"{API}/executions", f"{API}/node-types")
    async with _client(app) as anonymous:
        for path in routes:
            problem = assert_problem(await anonymous.get(path), 401, "unauthorized")
            assert "X-API-Key" in problem["detail"]
        refused = await anonymous.post(f"{API}/workflows", json={"name": "x", "nodes": [], "connections": {}})
        assert_problem(refused, 401, "unauthorized")
        assert refused.headers["www-authenticate"]
        assert not (await services.workflows.find(WorkflowQuery())).items
        wrong = key[:-1] + ("A" if key[-1] != "A" else "B")  # the right id, a wrong secret
        for headers in ({"X-API-Key": wrong}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": key}):
            assert_problem(await anonymous.get(f"{API}/workflows", headers=headers), 401, "unauthorized")
        # the open routes: probes, the OpenAPI document and its page
        for path in ("/healthz", "/readyz", f"{API}/openapi.json", "/docs"):
            assert (await anonymous.get(path)).status_code == 200, path
        # the same key as a bearer token
        bearer = await anonymous.get(f"{API}/workflows", headers={"Authorization": f"Bearer {key}"})
        assert bearer.status_code == 200, bearer.text
