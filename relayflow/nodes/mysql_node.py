"""MySQL: run a query, or select/insert/update/upsert/delete rows, once per item (n8n ``mySql``).

One aiomysql connection per node run, opened from the node's ``mySql`` credential and closed when
the run ends. aiomysql has no server-side prepared statements: values are passed to the driver
separately from the SQL and escaped by it (``%s``), never formatted into the text by us. Insert,
update, upsert and delete answer ``{"success": true}`` per item (MySQL has no RETURNING).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec
from relayflow.nodes.sql_common import MYSQL, Params, connect_error, execute_items, from_n8n


def _bindable(value: Any) -> Any:
    # the driver escapes scalars only; objects and arrays go in as their JSON text
    return json.dumps(value) if isinstance(value, (dict, list)) else value


class MySession:
    def __init__(self, conn: Any, db_errors: tuple[type[BaseException], ...]) -> None:
        self.conn = conn
        self.db_errors = db_errors

    async def run(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]] | None:
        async with self.conn.cursor() as cur:
            # always pass a tuple: the driver then turns our '%%' back into '%'
            await cur.execute(sql, tuple(_bindable(v) for v in args))
            if cur.description is None:
                return None
            return list(await cur.fetchall())

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        await self.conn.begin()
        try:
            yield
        except BaseException:
            await self.conn.rollback()
            raise
        await self.conn.commit()

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        return self._transaction()


@asynccontextmanager
async def connect(ctx: NodeContext) -> AsyncIterator[MySession]:
    import aiomysql  # type: ignore[import-untyped]
    import pymysql  # type: ignore[import-untyped]

    cred = await ctx.credentials("mySql")
    try:
        conn = await aiomysql.connect(
            host=cred.get("host") or "localhost",
            port=int(cred.get("port") or 3306),
            db=cred.get("database") or None,
            user=cred.get("user") or "root",
            password=cred.get("password") or "",
            autocommit=True,
            cursorclass=aiomysql.DictCursor,
            charset="utf8mb4",
            connect_timeout=30,
        )
    except (OSError, pymysql.MySQLError, TimeoutError) as exc:
        raise connect_error(ctx, f"MySQL at {cred.get('host')}:{cred.get('port')}", exc) from exc
    try:
        yield MySession(conn, (pymysql.MySQLError,))
    finally:
        conn.close()


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item = await ctx.item_params()
    async with connect(ctx) as session:
        return [await execute_items(ctx, items, session, MYSQL, per_item)]


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.mySql",
        version=1,
        title="MySQL",
        group="action",
        description="Runs a query or selects, inserts, updates, upserts or deletes rows in MySQL/MariaDB.",
        params=Params,
        execute=execute,
        credentials=(CredentialSlot("mySql", required=True),),
        aliases=(N8nAlias("n8n-nodes-base.mySql", (1, 2, 2.1, 2.2, 2.3, 2.4, 2.5), translate=from_n8n),),
    ),
)
