"""The MySQL node against the machine's MariaDB, through the engine, in n8n's shapes.

The module gets a fresh database (dropped at the end); each test makes its own table.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiomysql  # type: ignore[import-untyped]
import pytest

from relayflow.engine.run import ExecutionRecord
from relayflow.testing.services import require_or_skip, run_sync, tcp_open
from tests.integration.sql_node_support import FakeVault, rl, rows, run_sql_node

pytestmark = pytest.mark.services

REF = {"id": "my-1", "name": "Test MySQL"}
ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


async def _sql(sql: str, db: str | None = None) -> list[Any]:
    conn = await aiomysql.connect(db=db, autocommit=True, **ADMIN)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    if not tcp_open("127.0.0.1", 3306):
        require_or_skip("MariaDB", "nothing listens on 127.0.0.1:3306")
    name = f"relayflow_mynode_{uuid.uuid4().hex[:12]}"
    run_sync(_sql(f"CREATE DATABASE `{name}`"))
    yield name
    run_sync(_sql(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
async def table(database: str) -> AsyncIterator[str]:
    name = f"users_{uuid.uuid4().hex[:8]}"
    await _sql(
        f"CREATE TABLE `{name}` (id int PRIMARY KEY, name varchar(200), score decimal(6,2), born date)",
        database,
    )
    await _sql(
        f"INSERT INTO `{name}` VALUES (1, 'ada', 9.5, '1815-12-10'), (2, 'bob', 3, NULL), (3, 'cy', NULL, NULL)",
        database,
    )
    yield name


async def count(database: str, table: str, where: str = "1=1") -> int:
    return int((await _sql(f"SELECT count(*) FROM `{table}` WHERE {where}", database))[0][0])


async def run(
    database: str,
    parameters: dict[str, Any],
    items: Any = None,
    *,
    version: float = 2.4,
    node_fields: dict[str, Any] | None = None,
) -> ExecutionRecord:
    vault = FakeVault("mySql", REF, {**ADMIN, "database": database})
    node_type = "n8n-nodes-base.mySql"
    return await run_sql_node(vault, node_type, parameters, items, version=version, node_fields=node_fields)


async def test_execute_query_with_dollar_and_question_placeholders(database: str, table: str) -> None:
    params = {
        "operation": "executeQuery",
        "query": f"SELECT id, name, score FROM `{table}` WHERE id >= $1 AND name <> $2 AND name LIKE '%' ORDER BY id",
        "options": {"queryReplacement": "2, cy"},
    }
    assert rows(await run(database, params)) == [{"id": 2, "name": "bob", "score": "3.00"}]
    question = {
        "operation": "executeQuery",
        "query": f"SELECT name, '?' AS q FROM `{table}` WHERE id = ? OR id = ? ORDER BY id",
        "options": {"queryReplacement": "={{ [$json.a, $json.b] }}"},
    }
    assert rows(await run(database, question, [{"a": 1, "b": 3}])) == [
        {"name": "ada", "q": "?"},
        {"name": "cy", "q": "?"},
    ]


async def test_expressions_in_the_query_per_item(database: str, table: str) -> None:
    params = {
        "operation": "executeQuery",
        "query": f"=SELECT name, born FROM `{table}` WHERE id = {{{{ $json.id }}}}",
    }
    assert rows(await run(database, params, [{"id": 1}, {"id": 2}])) == [
        {"name": "ada", "born": "1815-12-10"},
        {"name": "bob", "born": None},
    ]


async def test_an_injection_attempt_in_a_value_stays_a_value(database: str, table: str) -> None:
    evil = f"x'; DROP TABLE `{table}`; -- \\' %s"
    params = {
        "operation": "executeQuery",
        "query": f"SELECT count(*) AS n FROM `{table}` WHERE name = $1",
        "options": {"queryReplacement": "={{ [$json.name] }}"},
    }
    assert rows(await run(database, params, [{"name": evil}])) == [{"n": 0}]
    insert = {
        "operation": "insert",
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": []},
    }
    assert rows(await run(database, insert, [{"id": 9, "name": evil}])) == [{"success": True}]
    assert (await _sql(f"SELECT name FROM `{table}` WHERE id = 9", database))[0][0] == evil


async def test_a_bad_identifier_is_refused_naming_the_node(database: str, table: str) -> None:
    params = {
        "operation": "insert",
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": []},
    }
    record = await run(database, params, [{"id": 5, "name`) VALUES (1); --": "x"}])
    assert record.status.value == "failed"
    assert record.error is not None and record.error["node"] == "Node"
    assert "invalid column name" in record.error["message"]
    assert await count(database, table) == 3


async def test_select_with_where_sort_and_limit(database: str, table: str) -> None:
    params = {
        "operation": "select",
        "table": {"__rl": True, "value": table, "mode": "name"},
        "limit": 2,
        "where": {"values": [{"column": "id", "condition": "!=", "value": "2"}]},
        "sort": {"values": [{"column": "id", "direction": "DESC"}]},
    }
    assert [r["id"] for r in rows(await run(database, params))] == [3, 1]
    everything = {**params, "returnAll": True, "where": {}, "sort": {"values": [{"column": "name"}]}}
    assert [r["name"] for r in rows(await run(database, everything))] == ["ada", "bob", "cy"]


async def test_insert_update_upsert(database: str, table: str) -> None:
    insert = {
        "operation": "insert",
        "table": rl(table),
        "columns": {
            "mappingMode": "defineBelow",
            "value": {"id": "={{ $json.n }}", "name": "={{ $json.who }}"},
        },
    }
    assert rows(await run(database, insert, [{"n": 7, "who": "eve"}])) == [{"success": True}]
    update = {
        "operation": "update",
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": ["id"]},
    }
    await run(database, update, [{"id": 7, "name": "eva"}])
    old = {"operation": "update", "table": rl(table), "columnToMatchOn": "id", "dataMode": "autoMapInputData"}
    await run(database, old, [{"id": 3, "name": "cyd"}], version=2.1)
    await run(
        database, {**update, "operation": "upsert"}, [{"id": 1, "name": "ada2"}, {"id": 10, "name": "new"}]
    )
    got = await _sql(f"SELECT id, name FROM `{table}` WHERE id IN (1, 3, 7, 10) ORDER BY id", database)
    assert [tuple(r) for r in got] == [(1, "ada2"), (3, "cyd"), (7, "eva"), (10, "new")]


async def test_delete_truncate_and_drop(database: str, table: str) -> None:
    delete = {
        "operation": "deleteTable",
        "table": rl(table),
        "deleteCommand": "delete",
        "where": {"values": [{"column": "name", "condition": "equal", "value": "bob"}]},
    }
    assert rows(await run(database, delete)) == [{"success": True}]
    assert await count(database, table) == 2
    await run(database, {**delete, "deleteCommand": "truncate"})
    assert await count(database, table) == 0
    await run(database, {**delete, "deleteCommand": "drop"})
    assert await _sql(f"SHOW TABLES LIKE '{table}'", database) == []


async def test_v1_execute_query(database: str, table: str) -> None:
    params = {
        "operation": "executeQuery",
        "query": f"=SELECT name FROM `{table}` WHERE id = {{{{ $json.id }}}}",
    }
    assert rows(await run(database, params, [{"id": 2}], version=1)) == [{"name": "bob"}]


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
    out = rows(await run(database, params, [{}, {}], node_fields={"continueOnFail": True}))
    assert len(out) == 2 and all("syntax" in r["error"] for r in out)


async def test_a_transaction_rolls_back_every_item_on_failure(database: str, table: str) -> None:
    params = {
        "operation": "insert",
        "table": rl(table),
        "columns": {"mappingMode": "autoMapInputData", "value": {}, "matchingColumns": []},
        "options": {"queryBatching": "transaction"},
    }
    record = await run(database, params, [{"id": 30, "name": "ok"}, {"id": 1, "name": "duplicate"}])
    assert record.status.value == "failed"
    assert await count(database, table, "id = 30") == 0


def test_placeholders_outside_quotes_and_comments_are_rewritten() -> None:
    from relayflow.nodes.sql_common import mysql_placeholders

    sql, args = mysql_placeholders(
        "SELECT '$1 ?', `a?` FROM t -- ?\nWHERE a = $2 AND b = $1 AND c LIKE '5%'", ["x", "y"]
    )
    assert sql == "SELECT '$1 ?', `a?` FROM t -- ?\nWHERE a = %s AND b = %s AND c LIKE '5%%'"
    assert args == ["y", "x"]
    with pytest.raises(ValueError, match="uses \\$3"):
        mysql_placeholders("SELECT $3", ["x"])
