"""Postgres: run a query, or select/insert/update/upsert/delete rows, once per item (n8n ``postgres``).

One asyncpg connection per node run, opened from the node's ``postgres`` credential and closed
when the run ends (simple and correct; a pool can come later if connection set-up shows up in
profiles). Every statement is prepared, and each bound value is converted to the parameter type
the server inferred: n8n's values arrive as text ("42", "2024-01-31") and asyncpg, unlike n8n's
driver, refuses text for a number or a date.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec
from relayflow.nodes.sql_common import POSTGRES, Params, connect_error, execute_items, from_n8n

_INTS = {"int2", "int4", "int8", "oid", "smallint", "integer", "bigint"}
_FLOATS = {"float4", "float8"}
_TIMES = {"timestamp", "timestamptz", "date", "time", "timetz"}
_TEXTS = {"text", "varchar", "bpchar", "name", "char", "unknown", "citext"}


def coerce(value: Any, type_name: str) -> Any:
    """One bound value → what asyncpg's codec for ``type_name`` accepts."""
    if value is None:
        return None
    if type_name in ("json", "jsonb"):
        return value if isinstance(value, str) else json.dumps(value)
    if type_name in _TEXTS:
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return (
            value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        )
    if isinstance(value, str):
        text = value.strip()
        if type_name in _INTS:
            return int(text)
        if type_name in _FLOATS:
            return float(text)
        if type_name == "numeric":
            return Decimal(text)
        if type_name == "bool":
            return text.lower() in ("true", "t", "1", "yes", "y", "on")
        if type_name in _TIMES:
            return _time(text, type_name)
    elif type_name == "numeric" and isinstance(value, (int, float)):
        return Decimal(str(value))
    elif type_name in _FLOATS and isinstance(value, int):
        return float(value)
    return value


def _time(text: str, type_name: str) -> Any:
    if type_name == "date":
        return dt.date.fromisoformat(text[:10])
    if type_name in ("time", "timetz"):
        return dt.time.fromisoformat(text)
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if type_name == "timestamptz" and stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    if type_name == "timestamp" and stamp.tzinfo is not None:
        return stamp.astimezone(dt.UTC).replace(tzinfo=None)
    return stamp


class PgSession:
    def __init__(self, conn: Any, db_errors: tuple[type[BaseException], ...]) -> None:
        self.conn = conn
        self.db_errors = db_errors

    async def run(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]] | None:
        if not args and ";" in sql:
            # several statements cannot be prepared; without values the simple protocol runs them
            try:
                stmt = await self.conn.prepare(sql)
            except self.db_errors as exc:
                if "multiple commands" not in str(exc):
                    raise
                await self.conn.execute(sql)
                return None
        else:
            stmt = await self.conn.prepare(sql)
        types = stmt.get_parameters()
        if len(types) != len(args):
            raise ValueError(f"the query has {len(types)} parameter(s) but {len(args)} value(s) were given")
        try:
            values = [coerce(v, t.name) for v, t in zip(args, types, strict=True)]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a query parameter does not fit its column type: {exc}") from exc
        rows = await stmt.fetch(*values)
        if not stmt.get_attributes():
            return None
        return [dict(r.items()) for r in rows]

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        return self.conn.transaction()  # type: ignore[no-any-return]


@asynccontextmanager
async def connect(ctx: NodeContext) -> AsyncIterator[PgSession]:
    import asyncpg  # type: ignore[import-untyped]

    cred = await ctx.credentials("postgres")
    ssl = cred.get("ssl") or "disable"
    try:
        conn = await asyncpg.connect(
            host=cred.get("host") or "localhost",
            port=int(cred.get("port") or 5432),
            database=cred.get("database") or "postgres",
            user=cred.get("user") or "postgres",
            password=cred.get("password") or None,
            ssl=None if ssl == "disable" else ssl,
            timeout=30,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise connect_error(ctx, f"PostgreSQL at {cred.get('host')}:{cred.get('port')}", exc) from exc
    try:
        for name in ("json", "jsonb"):
            await conn.set_type_codec(
                name, schema="pg_catalog", encoder=lambda v: v, decoder=json.loads, format="text"
            )
        yield PgSession(conn, (asyncpg.PostgresError, asyncpg.InterfaceError))
    finally:
        await conn.close()


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item = await ctx.item_params()
    async with connect(ctx) as session:
        return [await execute_items(ctx, items, session, POSTGRES, per_item)]


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.postgres",
        version=1,
        title="Postgres",
        group="action",
        description="Runs a query or selects, inserts, updates, upserts or deletes rows in PostgreSQL.",
        params=Params,
        execute=execute,
        credentials=(CredentialSlot("postgres", required=True),),
        aliases=(
            N8nAlias("n8n-nodes-base.postgres", (1, 2, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6), translate=from_n8n),
        ),
    ),
)
