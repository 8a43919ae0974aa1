"""The Postgres node against the machine's PostgreSQL, through the engine, in n8n's shapes.

The module gets a fresh database (dropped at the end); each test makes its own table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from relayflow.engine.run import ExecutionRecord
from relayflow.testing.services import require_or_skip, run_sync, tcp_open
from tests.integration.sql_node_support import FakeVault, rl, rows, run_sql_node

pytestmark = pytest.mark.services

REF = {"id": "pg-1", "name": "Test Postgres"}
ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(database="postgres", **ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    if not tcp_open("127.0.0.1", 5432):
        require_or_skip("PostgreSQL", "nothing listens on 127.0.0.1:5432")
    name = f"relayflow_pgnode_{uuid.uuid4().hex[:12]}"
    run_sync(_admin(f'CREATE DATABASE "{name}"'))
    yield name
    run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db(database: str) -> Any:
    """A connection to the module's database, for setting up and checking tables."""
    conn = await asyncpg.connect(database=database, **ADMIN)
    yield conn
    await conn.close()


@pytest.fixture
async def table(db: Any) -> str:
    name = f"users_{uuid.uuid4().hex[:8]}"
    await db.execute(
        f'CREATE TABLE "{name}" (id int PRIMARY KEY, name text, score numeric, tags jsonb, born date)'
    )
    await db.execute(
        f"""INSERT INTO "{name}" VALUES (1, 'ada', 9.5, '["x"]', '1815-12-10'),
                                       (2, 'bob', 3, NULL, NULL), (3, 'cy', NULL, NULL, NULL)"""
    )
    return name


async def run(
    database: str,
    parameters: dict[str, Any],
    items: Any = None,
    *,
    version: float = 2.5,
    node_fields: dict[str, Any] | None = None,
) -> ExecutionRecord:
    vault = FakeVault("postgres", REF, {**ADMIN, "database": database, "password": "", "ssl": "disable"})
    node_type = "n8n-nodes-base.postgres"
    return await run_sql_node(vault, node_type, parameters, items, version=version, node_fields=node_fields)


async def test_execute_query_binds_comma_separated_values(database: str, table: str) -> None:
    params = {
        "operation": "executeQuery",
        "query": f'SELECT id, name, score FROM "{table}" WHERE id >= $1 AND name <> $2 ORDER BY id',
        "options": {"queryReplacement": "2, cy"},
    }
    assert rows(await run(database, params)) == [{"id": 2, "name": "bob", "score": "3"}]


async def test_execute_query_with_expressions_per_item(database: str, table: str) -> None:
    params = {
        "operation": "executeQuery",
        "query": f'=SELECT name, born FROM "{table}" WHERE id = $1 -- {{{{ $json.note }}}}',
        "options": {"queryReplacement": "={{ [$json.id] }}"},
    }
    record = await run(database, params, [{"id": 1, "note": "a"}, {"id": 2, "note": "b"}])
    assert rows(record) == [{"name": "ada", "born": "1815-12-10"}, {"name": "bob", "born": None}]
    assert [it["pairedItem"] for it in record.runs_of("Node")[-1].output[0]] == [{"item": 0}, {"item": 1}]  # type: ignore[index]


async def test_an_injection_attempt_in_a_value_stays_a_value(database: str, db: Any, table: str) -> None:
    evil = f'x\'; DROP TABLE "{table}"; --'
    params = {
        "operation": "executeQuery",
        "query": f'SELECT count(*)::int AS n FROM "{table}" WHERE name = $1',
        "options": {"queryReplacement": "={{ [$json.name] }}"},
    }
    assert rows(await run(database, params, [{"name": evil}])) == [{"n": 0}]
    insert = {
        "operation": "insert",
        "schema": rl("public"),
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": [], "schema": []},
    }
    assert rows(await run(database, insert, [{"id": 9, "name": evil}]))[0]["name"] == evil
    assert await db.fetchval(f'SELECT count(*) FROM "{table}"') == 4


async def test_a_bad_identifier_is_refused_naming_the_node(database: str, table: str) -> None:
    params = {"operation": "select", "schema": rl("public"), "table": rl(f'{table}"; DROP TABLE x; --')}
    record = await run(database, params)
    assert record.status.value == "failed"
    assert record.error is not None
    assert record.error["node"] == "Node"
    assert "invalid table name" in record.error["message"]


async def test_select_with_where_sort_and_limit(database: str, table: str) -> None:
    params = {
        "operation": "select",
        "schema": {"__rl": True, "value": "public", "mode": "name"},
        "table": table,
        "limit": 2,
        "where": {"values": [{"column": "id", "condition": ">=", "value": "1"}]},
        "sort": {"values": [{"column": "id", "direction": "DESC"}]},
        "options": {"outputColumns": ["id", "tags"]},
    }
    assert rows(await run(database, params)) == [{"id": 3, "tags": None}, {"id": 2, "tags": None}]
    all_rows = {
        **params,
        "returnAll": True,
        "where": {"values": [{"column": "tags", "condition": "IS NULL"}]},
    }
    assert [r["id"] for r in rows(await run(database, all_rows))] == [3, 2]


async def test_insert_define_below_returns_the_row(database: str, table: str) -> None:
    params = {
        "operation": "insert",
        "schema": rl("public"),
        "table": rl(table),
        "columns": {
            "mappingMode": "defineBelow",
            "value": {"id": "={{ $json.n }}", "name": "={{ $json.who }}", "tags": "={{ $json.tags }}"},
            "matchingColumns": [],
        },
    }
    out = rows(await run(database, params, [{"n": 7, "who": "eve", "tags": {"a": [1]}}]))
    assert out == [{"id": 7, "name": "eve", "score": None, "tags": {"a": [1]}, "born": None}]


async def test_update_and_upsert(database: str, db: Any, table: str) -> None:
    update = {
        "operation": "update",
        "schema": rl("public"),
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": ["id"]},
    }
    out = rows(await run(database, update, [{"id": "2", "name": "bobby", "score": "4.25"}]))
    assert out[0]["name"] == "bobby" and out[0]["score"] == "4.25"
    # v2.1: columnToMatchOn
    old = {"operation": "update", "table": rl(table), "columnToMatchOn": "id", "dataMode": "autoMapInputData"}
    assert rows(await run(database, old, [{"id": 3, "name": "cyd"}], version=2.1))[0]["name"] == "cyd"
    upsert = {**update, "operation": "upsert"}
    await run(database, upsert, [{"id": 1, "name": "ada2"}, {"id": 10, "name": "new"}])
    got = await db.fetch(f'SELECT id, name FROM "{table}" WHERE id IN (1, 10) ORDER BY id')
    assert [tuple(r) for r in got] == [(1, "ada2"), (10, "new")]


async def test_delete_truncate_and_drop(database: str, db: Any, table: str) -> None:
    delete = {
        "operation": "deleteTable",
        "table": rl(table),
        "deleteCommand": "delete",
        "where": {"values": [{"column": "name", "condition": "LIKE", "value": "b%"}]},
    }
    assert rows(await run(database, delete)) == [{"success": True}]
    assert await db.fetchval(f'SELECT count(*) FROM "{table}"') == 2
    assert rows(await run(database, {**delete, "deleteCommand": "truncate"})) == [{"success": True}]
    assert await db.fetchval(f'SELECT count(*) FROM "{table}"') == 0
    await run(database, {**delete, "deleteCommand": "drop"})
    assert await db.fetchval("SELECT to_regclass($1)", f"public.{table}") is None


async def test_v1_execute_query_and_insert(database: str, table: str) -> None:
    query = {
        "operation": "executeQuery",
        "query": f'SELECT name FROM "{table}" WHERE id = $1',
        "additionalFields": {"queryParams": "id"},
    }
    assert rows(await run(database, query, [{"id": 1}], version=1)) == [{"name": "ada"}]
    insert = {"table": table, "columns": "id,name", "schema": "public"}
    assert rows(await run(database, insert, [{"id": 20, "name": "v1"}], version=1))[0]["name"] == "v1"


async def test_bad_sql_fails_the_node_and_continue_on_fail_keeps_going(database: str, table: str) -> None:
    params = {
        "operation": "executeQuery",
        "query": "SELEC nonsense",
        "options": {"queryBatching": "independently"},
    }
    record = await run(database, params)
    assert record.status.value == "failed"
    assert record.error is not None and record.error["node"] == "Node"
    assert "syntax" in record.error["message"]
    record = await run(database, params, [{}, {}], node_fields={"continueOnFail": True})
    out = rows(record)
    assert len(out) == 2 and all("syntax" in r["error"] for r in out)


async def test_a_transaction_rolls_back_every_item_on_failure(database: str, db: Any, table: str) -> None:
    params = {
        "operation": "insert",
        "schema": rl("public"),
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": []},
        "options": {"queryBatching": "transaction"},
    }
    record = await run(database, params, [{"id": 30, "name": "ok"}, {"id": 1, "name": "duplicate"}])
    assert record.status.value == "failed"
    assert await db.fetchval(f'SELECT count(*) FROM "{table}" WHERE id = 30') == 0


async def test_unreachable_server_is_a_node_error(table: str) -> None:
    creds = {"host": "127.0.0.1", "port": 1, "database": "x", "user": "postgres", "ssl": "disable"}
    params = {"operation": "executeQuery", "query": "SELECT 1"}
    record = await run_sql_node(
        FakeVault("postgres", REF, creds),
        "n8n-nodes-base.postgres",
        params,
        version=2.5,
        node_fields={"retryOnFail": False},
    )
    assert record.status.value == "failed"
    assert record.error is not None and "could not connect" in record.error["message"]


async def test_table_from_an_expression_and_a_json_array_text_of_values(database: str, table: str) -> None:
    params = {
        "operation": "select",
        "schema": rl("public"),
        "table": {"__rl": True, "value": "={{ $json.t }}", "mode": "name"},
        "returnAll": True,
        "where": {"values": [{"column": "id", "condition": "equal", "value": "={{ $json.id }}"}]},
    }
    assert [r["name"] for r in rows(await run(database, params, [{"t": table, "id": 2}]))] == ["bob"]
    # n8n exports often build the list as text: '=["{{ ... }}"]'
    query = {
        "operation": "executeQuery",
        "query": f'SELECT name FROM "{table}" WHERE name = $1',
        "options": {"queryReplacement": '=["{{ $json.who }}"]'},
    }
    assert rows(await run(database, query, [{"who": "cy"}], version=2.6)) == [{"name": "cy"}]


async def test_a_value_count_mismatch_is_a_clear_error(database: str, table: str) -> None:
    params = {"operation": "executeQuery", "query": f'SELECT * FROM "{table}" WHERE id = $1 AND name = $2'}
    record = await run(database, params, [{}])
    assert record.status.value == "failed"
    assert record.error is not None and "2 parameter(s) but 0 value(s)" in record.error["message"]
