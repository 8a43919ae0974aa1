"""/api/v1/workflows: CRUD, filters, pagination, versions, rollback, export."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import API, assert_problem, hello


async def test_create_answers_201_with_the_stored_workflow(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/workflows", json=hello(tags=["a", "b"]))
    assert response.status_code == 201
    body = response.json()
    assert len(body["id"]) == 16 and body["versionId"]
    assert body["active"] is False
    assert body["tags"] == ["a", "b"]
    assert body["createdAt"] and body["updatedAt"]
    assert [n["name"] for n in body["nodes"]] == ["Start", "Greet"]
    fetched = await client.get(f"{API}/workflows/{body['id']}")
    assert fetched.json() == body


async def test_an_n8n_export_imports_inactive_with_its_tags(client: httpx.AsyncClient) -> None:
    export = hello(
        id="n8nId123",
        active=True,
        versionId="old-version",
        tags=[{"id": "1", "name": "sales", "createdAt": "2024-01-01T00:00:00.000Z"}],
        meta={"instanceId": "abc"},
        pinData={},
    )
    body = (await client.post(f"{API}/workflows", json=export)).json()
    assert body["id"] != "n8nId123"
    assert body["versionId"] != "old-version"
    assert body["active"] is False
    assert body["tags"] == ["sales"]
    assert body["meta"] == {"instanceId": "abc"}


async def test_an_invalid_workflow_is_422_naming_node_and_field(client: httpx.AsyncClient) -> None:
    bad = hello()
    bad["nodes"][1]["type"] = "n8n-nodes-base.nothing"
    problem = assert_problem(await client.post(f"{API}/workflows", json=bad), 422, "workflow_invalid")
    assert problem["issues"][0]["node"] == "Greet"
    assert problem["issues"][0]["field"] == "type"
    no_nodes = await client.post(f"{API}/workflows", json={"name": "x"})
    assert assert_problem(no_nodes, 422, "workflow_invalid")["issues"][0]["field"] == "nodes"


async def test_bad_tags_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/workflows", json=hello(tags="sales"))
    assert assert_problem(response, 422, "workflow_invalid")["issues"][0]["field"] == "tags"


async def test_a_body_that_is_not_an_object_is_422(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.post(f"{API}/workflows", json=[1]), 422, "input_invalid")
    assert problem["issues"][0]["field"] == "body"
    broken = await client.post(
        f"{API}/workflows", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_problem(broken, 422, "input_invalid")


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/workflows/nope"),
        ("PUT", "/workflows/nope"),
        ("PATCH", "/workflows/nope"),
        ("DELETE", "/workflows/nope"),
        ("POST", "/workflows/nope/activate"),
        ("POST", "/workflows/nope/deactivate"),
        ("GET", "/workflows/nope/versions"),
        ("GET", "/workflows/nope/versions/v"),
        ("POST", "/workflows/nope/rollback"),
        ("GET", "/workflows/nope/export"),
    ]:
        body = hello() if method in ("PUT", "PATCH") else {"versionId": "v"}
        response = await client.request(method, f"{API}{path}", json=body)
        assert_problem(response, 404, "not_found")


async def test_list_filters_by_name_tag_and_active(client: httpx.AsyncClient) -> None:
    ids = {}
    for name, tags in [("Orders sync", ["sales"]), ("Invoices", ["sales", "finance"]), ("Other", [])]:
        ids[name] = (await client.post(f"{API}/workflows", json=hello(name=name, tags=tags))).json()["id"]
    await client.post(f"{API}/workflows/{ids['Invoices']}/activate")

    async def names(**params: Any) -> list[str]:
        body = (await client.get(f"{API}/workflows", params=params)).json()
        return sorted(w["name"] for w in body["data"])

    assert await names(name="orders") == ["Orders sync"]
    assert await names(tag="sales") == ["Invoices", "Orders sync"]
    assert await names(active="true") == ["Invoices"]
    assert await names(active="false", tag="sales") == ["Orders sync"]


async def test_list_pages_through_everything_with_the_cursor(client: httpx.AsyncClient) -> None:
    created = {
        (await client.post(f"{API}/workflows", json=hello(name=f"w{i}"))).json()["id"] for i in range(5)
    }
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"{API}/workflows", params=params)).json()
        pages += 1
        assert len(body["data"]) <= 2
        seen.extend(w["id"] for w in body["data"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 5 and set(seen) == created


async def test_bad_paging_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    for limit in (0, 251, "x"):
        response = await client.get(f"{API}/workflows", params={"limit": limit})
        assert assert_problem(response, 422, "input_invalid")["issues"][0]["field"] == "query.limit"
    assert_problem(await client.get(f"{API}/workflows", params={"cursor": "!!"}), 422, "input_invalid")


async def test_put_replaces_and_a_stale_version_is_409(
    client: httpx.AsyncClient, created: dict[str, Any]
) -> None:
    url = f"{API}/workflows/{created['id']}"
    first = created["versionId"]
    replaced = await client.put(url, json=hello(name="Renamed", versionId=first))
    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Renamed"
    assert replaced.json()["versionId"] != first
    stale = await client.put(url, json=hello(name="Lost update", versionId=first))
    assert_problem(stale, 409, "conflict")
    assert (await client.get(url)).json()["name"] == "Renamed"
    invalid = await client.put(url, json={"nodes": "none"})
    assert_problem(invalid, 422, "workflow_invalid")


async def test_patch_merges_top_level_fields(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    url = f"{API}/workflows/{created['id']}"
    patched = (await client.patch(url, json={"name": "Patched", "tags": ["x"]})).json()
    assert patched["name"] == "Patched"
    assert patched["tags"] == ["x"]
    assert patched["nodes"] == created["nodes"]
    assert patched["connections"] == created["connections"]
    stale = await client.patch(url, json={"name": "again", "versionId": created["versionId"]})
    assert_problem(stale, 409, "conflict")


async def test_delete_answers_204_then_404(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    url = f"{API}/workflows/{created['id']}"
    deleted = await client.delete(url)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_problem(await client.get(url), 404, "not_found")
    assert_problem(await client.delete(url), 404, "not_found")


async def test_activate_and_deactivate_flip_the_flag(
    client: httpx.AsyncClient, created: dict[str, Any]
) -> None:
    url = f"{API}/workflows/{created['id']}"
    assert (await client.post(f"{url}/activate")).json()["active"] is True
    assert (await client.get(url)).json()["active"] is True
    assert (await client.post(f"{url}/deactivate")).json()["active"] is False
    assert (await client.get(url)).json()["active"] is False


async def test_versions_and_rollback(client: httpx.AsyncClient, created: dict[str, Any]) -> None:
    url = f"{API}/workflows/{created['id']}"
    await client.put(url, json=hello(name="Second"))
    versions = (await client.get(f"{url}/versions")).json()["data"]
    assert [v["name"] for v in versions] == ["Second", "Hello"]
    assert versions[1]["versionId"] == created["versionId"]
    assert "workflow" not in versions[0]

    first = (await client.get(f"{url}/versions/{created['versionId']}")).json()
    assert first["workflow"]["name"] == "Hello"
    assert first["workflow"]["nodes"] == created["nodes"]
    assert_problem(await client.get(f"{url}/versions/nope"), 404, "not_found")

    rolled = (await client.post(f"{url}/rollback", json={"versionId": created["versionId"]})).json()
    assert rolled["name"] == "Hello"
    assert rolled["versionId"] not in {v["versionId"] for v in versions}
    assert len((await client.get(f"{url}/versions")).json()["data"]) == 3
    assert_problem(await client.post(f"{url}/rollback", json={"versionId": "nope"}), 404, "not_found")
    missing = await client.post(f"{url}/rollback", json={})
    assert assert_problem(missing, 422, "input_invalid")["issues"][0]["field"] == "body.versionId"


async def test_export_is_n8n_shaped_and_imports_again(client: httpx.AsyncClient) -> None:
    created = (await client.post(f"{API}/workflows", json=hello(tags=["t"]))).json()
    export = (await client.get(f"{API}/workflows/{created['id']}/export")).json()
    assert export["id"] == created["id"]
    assert export["tags"] == [{"name": "t"}]
    assert export["nodes"] == created["nodes"]
    assert export["connections"] == created["connections"]
    assert "createdAt" not in export
    again = await client.post(f"{API}/workflows", json=export)
    assert again.status_code == 201
    assert again.json()["tags"] == ["t"]
