"""Odd input that once answered 500 (found by tests/api/test_schemathesis.py and by probing): each
answers a 4xx problem naming the field now, on SQLite and on PostgreSQL (which holds no NUL
character in text and refuses it in a query parameter)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from relayflow.api import ApiServices, build_services, create_app
from relayflow.store.config import open_stores
from tests.api.conftest import API, assert_problem, hello, owner_key


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def sql_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the SQL stores: a fresh SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    services: ApiServices = build_services(*await open_stores(url))
    transport = httpx.ASGITransport(app=create_app(services))
    headers = {"X-API-Key": await owner_key(services)}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://relayflow.test", headers=headers
    ) as client:
        yield client
    await services.runs.drain(0.0, services.engine)
    await services.executions.flush()
    await services.executions.close()
    await services.workflows.close()
    if services.engine.expressions is not None:
        services.engine.expressions.close()


async def _workflow(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(f"{API}/workflows", json=hello())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _issue_fields(response: httpx.Response) -> list[str]:
    return [issue["field"] for issue in assert_problem(response, 422, "input_invalid")["issues"]]


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/a%00b",
        "/workflows/a%00b/versions",
        "/workflows/a%00b/export",
        "/executions/a%00b",
        "/executions/a%00b/events",
        "/node-types/a%00b",
    ],
)
async def test_a_nul_in_a_path_id_is_422_naming_it(sql_client: httpx.AsyncClient, path: str) -> None:
    [field] = _issue_fields(await sql_client.get(f"{API}{path}"))
    assert field.startswith("path.")


@pytest.mark.parametrize("method", ["DELETE", "POST"])
async def test_a_nul_in_an_id_to_change_is_422(sql_client: httpx.AsyncClient, method: str) -> None:
    url = f"{API}/executions/a%00b" + ("/stop" if method == "POST" else "")
    assert _issue_fields(await sql_client.request(method, url)) == ["path.execution_id"]
    url = f"{API}/workflows/a%00b" + ("/deactivate" if method == "POST" else "")
    assert _issue_fields(await sql_client.request(method, url)) == ["path.workflow_id"]


@pytest.mark.parametrize(
    ("route", "param"),
    [("workflows", "name"), ("workflows", "tag"), ("workflows", "cursor"), ("executions", "workflowId")],
)
async def test_a_nul_in_a_text_filter_is_422_naming_it(
    sql_client: httpx.AsyncClient, route: str, param: str
) -> None:
    response = await sql_client.get(f"{API}/{route}", params={param: "a\x00b"})
    assert _issue_fields(response) == [f"query.{param}"]


async def test_a_cursor_naming_an_id_with_a_nul_is_refused(sql_client: httpx.AsyncClient) -> None:
    raw = orjson.dumps(["2026-01-01T00:00:00+00:00", "a\x00b"])
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    for route in ("workflows", "executions"):
        assert_problem(
            await sql_client.get(f"{API}/{route}", params={"cursor": cursor}), 422, "input_invalid"
        )


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
async def test_a_cursor_at_the_ends_of_the_calendar_is_refused(
    sql_client: httpx.AsyncClient, at: str
) -> None:
    cursor = base64.urlsafe_b64encode(orjson.dumps([at, "x"])).decode().rstrip("=")
    assert_problem(await sql_client.get(f"{API}/executions", params={"cursor": cursor}), 422, "input_invalid")


@pytest.mark.parametrize(
    ("param", "at"),
    [("startedAfter", "0001-01-01T00:00:00+01:00"), ("startedBefore", "9999-12-31T23:59:59-01:00")],
)
async def test_a_time_beyond_the_calendar_in_utc_is_422_naming_it(
    sql_client: httpx.AsyncClient, param: str, at: str
) -> None:
    response = await sql_client.get(f"{API}/executions", params={param: at})
    assert _issue_fields(response) == [f"query.{param}"]


async def test_times_at_the_ends_of_the_calendar_in_utc_still_filter(sql_client: httpx.AsyncClient) -> None:
    params = {"startedAfter": "0001-01-01T00:00:00Z", "startedBefore": "9999-12-31T23:59:59Z"}
    response = await sql_client.get(f"{API}/executions", params=params)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": [], "nextCursor": None}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "a\x00b"}, "NUL"),
        ({"tags": ["ok", "a\x00b"]}, "invalid tag"),
    ],
)
async def test_a_nul_in_a_stored_name_is_refused(
    sql_client: httpx.AsyncClient, changes: dict[str, Any], message: str
) -> None:
    body = assert_problem(
        await sql_client.post(f"{API}/workflows", json=hello(**changes)), 422, "input_invalid"
    )
    assert message in body["detail"]


async def test_a_nul_in_a_node_parameter_is_stored_as_a_replacement_character(
    sql_client: httpx.AsyncClient,
) -> None:
    workflow = hello()
    workflow["nodes"][1]["notes"] = "a\x00b"
    response = await sql_client.post(f"{API}/workflows", json=workflow)
    assert response.status_code == 201, response.text
    stored = (await sql_client.get(f"{API}/workflows/{response.json()['id']}")).json()
    assert stored["nodes"][1]["notes"] == "a\ufffdb"


async def test_a_version_id_with_a_nul_is_refused(sql_client: httpx.AsyncClient) -> None:
    wf = await _workflow(sql_client)
    url = f"{API}/workflows/{wf['id']}"
    rollback = await sql_client.post(f"{url}/rollback", json={"versionId": "a\x00b"})
    assert _issue_fields(rollback) == ["body.versionId"]
    put = await sql_client.put(url, json=hello(versionId="a\x00b"))
    assert assert_problem(put, 422, "workflow_invalid")["issues"][0]["field"] == "versionId"


def _raw_json(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ('"big": 18446744073709551616', "big", "beyond 64 bits"),
        ('"small": [1, -9223372036854775809]', "small.1", "beyond 64 bits"),
        ('"x": {"y": 1e400}', "x.y", "finite"),
        ('"x": NaN', "x", "finite"),
        ('"text": "\\ud800"', "text", "surrogate"),
        ('"\\udfff": 1', "", "surrogate"),
        ('"deep": ' + "[" * 200 + "]" * 200, "deep." + ".".join(["0"] * 128), "nested"),
    ],
)
async def test_a_workflow_the_stores_cannot_keep_is_422_naming_the_field(
    sql_client: httpx.AsyncClient, extra: str, field: str, problem: str
) -> None:
    body = orjson.dumps(hello()).decode()[:-1] + ", " + extra + "}"
    response = await sql_client.post(f"{API}/workflows", **_raw_json(body))
    [issue] = assert_problem(response, 422, "workflow_invalid")["issues"]
    assert issue["field"] == (field or None)
    assert problem in issue["message"]
    assert issue["code"] == "unstorable"


async def test_a_patch_the_stores_cannot_keep_is_422(sql_client: httpx.AsyncClient) -> None:
    wf = await _workflow(sql_client)
    response = await sql_client.patch(
        f"{API}/workflows/{wf['id']}", **_raw_json('{"x": [[170258509209954020229120]]}')
    )
    assert assert_problem(response, 422, "workflow_invalid")["issues"][0]["field"] == "x.0.0"
    assert (await sql_client.get(f"{API}/workflows/{wf['id']}")).json()["versionId"] == wf["versionId"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"input": {"a": 1180591620717411303424}, "wait": true}', "body.input"),
        ('{"input": "\\ud800", "wait": true}', "body.input"),
        ('{"pinData": {"Start": [{"json": {"a": -1e999}}]}}', "body.pinData"),
    ],
)
async def test_run_input_the_stores_cannot_keep_is_422_naming_the_field(
    sql_client: httpx.AsyncClient, body: str, field: str
) -> None:
    wf = await _workflow(sql_client)
    response = await sql_client.post(f"{API}/workflows/{wf['id']}/run", **_raw_json(body))
    assert _issue_fields(response) == [field]
    assert (await sql_client.get(f"{API}/executions")).json()["data"] == []


async def test_run_input_at_the_64_bit_limits_runs(sql_client: httpx.AsyncClient) -> None:
    wf = await _workflow(sql_client)
    items = [{"name": "Ada", "n": 2**64 - 1}, {"name": "Bo", "n": -(2**63)}]
    response = await sql_client.post(f"{API}/workflows/{wf['id']}/run", json={"input": items, "wait": True})
    assert response.status_code == 200, response.text
    assert [item["n"] for item in response.json()["data"]] == [2**64 - 1, -(2**63)]


@pytest.mark.parametrize(
    ("body", "message"),
    [(b'{"name": "\xff\xfe"}', "not UTF-8"), (b"[" * 100_000 + b"]" * 100_000, "nests too deep")],
)
async def test_a_body_that_does_not_decode_is_422(
    sql_client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await sql_client.post(
        f"{API}/workflows", content=body, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422, "input_invalid")
    assert problem["issues"] == [
        {"field": "body", "message": problem["issues"][0]["message"], "code": "json_invalid"}
    ]
    assert message in problem["detail"]
