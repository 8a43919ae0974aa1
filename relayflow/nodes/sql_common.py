"""What the Postgres and MySQL nodes share: parameters, n8n translation, statement building, the
per-item loop.

Invariants: an identifier (schema, table, column) is validated and then quoted by the dialect; a
value is never put into SQL text, it is always bound as a parameter (``$n`` for asyncpg, ``%s``
escaped by the driver for aiomysql). Only the query text of ``executeQuery`` is the user's SQL.
The drivers are imported by the node modules' sessions, never here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items
from relayflow.errors import NodeError

Operation = Literal["executeQuery", "select", "insert", "update", "upsert", "deleteTable"]


class Options(BaseModel):
    # n8n's options hold many connection/UI settings we have no use for (connectionTimeout,
    # nodeVersion, replaceEmptyStrings ...): accepted and ignored rather than refused
    model_config = ConfigDict(frozen=True, extra="ignore")

    queryReplacement: Any = None
    queryBatching: Literal["single", "independently", "transaction"] = "single"
    outputColumns: list[str] | None = None
    cascade: bool = False
    restartSequences: bool = False
    largeNumbersOutput: Literal["text", "numbers"] = "text"


class Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    column: str
    condition: str = "equal"
    value: Any = None


class SortRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    column: str
    direction: Literal["ASC", "DESC"] = "ASC"


class Columns(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mapping_mode: Literal["autoMapInputData", "defineBelow"] = "autoMapInputData"
    value: dict[str, Any] = {}
    matching_columns: list[str] = []


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Operation = "insert"
    schema_name: str | None = None
    table: str = ""
    query: str = ""
    where: list[Condition] = []
    combine_conditions: Literal["AND", "OR"] = "AND"
    sort: list[SortRule] = []
    return_all: bool = False
    limit: int = Field(default=50, ge=0)
    columns: Columns = Columns()
    delete_command: Literal["delete", "truncate", "drop"] = "truncate"
    options: Options = Options()


# ---------------------------------------------------------------- n8n translation


def _locator(value: Any) -> Any:
    """n8n's resource locator ``{"__rl": true, "value": ..., "mode": ...}`` → its value."""
    if isinstance(value, dict) and "value" in value:
        return value.get("value") or ""
    return value if value is not None else ""


def _fixed(values: Any) -> list[Any]:
    """n8n's fixedCollection ``{"values": [...]}`` (or a bare list) → the list."""
    if isinstance(values, dict):
        values = values.get("values", [])
    return list(values) if isinstance(values, list) else []


def _from_json(name: str) -> str:
    return "={{ $json[" + json.dumps(name) + "] }}"


def _column_list(text: Any) -> list[str]:
    # v1 "columns": "id,name:text" (a column may carry a cast after ':', which we leave to the database)
    return [c.split(":", 1)[0].strip() for c in str(text or "").split(",") if c.strip()]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    """Both nodes' n8n parameters (v1, v2.0-2.1 dataMode, v2.2+ resource mapper) → ``Params``."""
    op = p.get("operation", "insert")
    out: dict[str, Any] = {
        "operation": "deleteTable" if op == "delete" else op,
        "query": p.get("query", ""),
        "table": _locator(p.get("table")),
    }
    if "schema" in p:
        out["schema_name"] = _locator(p.get("schema"))
    options = dict(p.get("options") or {})
    if version < 2:
        fields = p.get("additionalFields") or {}
        names = _column_list(fields.get("queryParams") or p.get("queryParams"))
        if names:  # v1 named item properties whose values fill $1, $2 ...
            options["queryReplacement"] = (
                "={{ [" + ", ".join(f"$json[{json.dumps(n)}]" for n in names) + "] }}"
            )
        if fields.get("mode") == "transaction" or p.get("mode") == "transaction":
            options["queryBatching"] = "transaction"
        cols = _column_list(p.get("columns"))
        match = _column_list(p.get("updateKey", "id" if op == "update" else ""))
        out["columns"] = {
            "mapping_mode": "defineBelow",
            "value": {c: _from_json(c) for c in dict.fromkeys([*match, *cols])},
            "matching_columns": match,
        }
    else:
        columns = p.get("columns")
        if isinstance(columns, dict) and "mappingMode" in columns:  # v2.2+ resource mapper
            out["columns"] = {
                "mapping_mode": columns.get("mappingMode", "autoMapInputData"),
                "value": dict(columns.get("value") or {}),
                "matching_columns": list(columns.get("matchingColumns") or []),
            }
        else:  # v2.0/2.1: dataMode + valuesToSend + columnToMatchOn/valueToMatchOn
            mode = p.get("dataMode", "autoMapInputData")
            value = {
                v.get("column"): v.get("value") for v in _fixed(p.get("valuesToSend")) if v.get("column")
            }
            key = p.get("columnToMatchOn")
            if key and mode == "defineBelow" and "valueToMatchOn" in p:
                value[key] = p["valueToMatchOn"]
            out["columns"] = {
                "mapping_mode": mode,
                "value": value,
                "matching_columns": [key] if key else [],
            }
        out["where"] = _fixed(p.get("where"))
        out["sort"] = _fixed(p.get("sort"))
        out["combine_conditions"] = p.get("combineConditions", options.pop("combineConditions", "AND"))
        out["return_all"] = p.get("returnAll", False)
        if "limit" in p:
            out["limit"] = p["limit"]
        if "deleteCommand" in p:
            out["delete_command"] = p["deleteCommand"]
    out["options"] = options
    return out


# ---------------------------------------------------------------- identifiers and statements

# letters, digits, '_', '$', '-' and spaces (autoMapped JSON keys like "First Name"); never a quote,
# backtick, semicolon, dot or control character, even though quoting alone would keep them inert
_IDENT = re.compile(r"^\w[\w$\- ]*$")


@dataclass(frozen=True)
class Dialect:
    name: str
    quote_char: str
    max_identifier: int
    returning: bool  # RETURNING rows from insert/update (PostgreSQL); otherwise {"success": true}

    def quote(self, name: str, what: str = "column") -> str:
        if not isinstance(name, str) or not _IDENT.match(name) or len(name) > self.max_identifier:
            raise ValueError(f"invalid {what} name {name!r}")
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def placeholder(self, n: int) -> str:
        return f"${n}" if self.name == "postgres" else "%s"


POSTGRES = Dialect("postgres", '"', 63, returning=True)
MYSQL = Dialect("mysql", "`", 64, returning=False)

Statement = tuple[str, list[Any]]

_OPERATORS = {"equal": "=", "=": "=", "!=": "<>", "LIKE": "LIKE", ">": ">", "<": "<", ">=": ">=", "<=": "<="}


class _Binder:
    """Collects bound values and hands out the dialect's placeholders for them."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return self.d.placeholder(len(self.args))


def _table(d: Dialect, p: Params) -> str:
    if not p.table:
        raise ValueError("no table given")
    name = d.quote(p.table, "table")
    if p.schema_name and d.name == "postgres":
        return d.quote(p.schema_name, "schema") + "." + name
    return name


def _where(d: Dialect, p: Params, bind: _Binder) -> str:
    parts = []
    for c in p.where:
        col = d.quote(c.column)
        if c.condition in ("IS NULL", "IS NOT NULL"):
            parts.append(f"{col} {c.condition}")
        elif c.condition in _OPERATORS:
            parts.append(f"{col} {_OPERATORS[c.condition]} {bind(c.value)}")
        else:
            raise ValueError(f"unknown condition {c.condition!r}")
    return f" WHERE {f' {p.combine_conditions} '.join(parts)}" if parts else ""


def _returning(d: Dialect, p: Params) -> str:
    if not d.returning:
        return ""
    cols = p.options.outputColumns
    return " RETURNING " + (", ".join(d.quote(c) for c in cols) if cols else "*")


def build_select(d: Dialect, p: Params) -> Statement:
    bind = _Binder(d)
    cols = ", ".join(d.quote(c) for c in p.options.outputColumns) if p.options.outputColumns else "*"
    sql = f"SELECT {cols} FROM {_table(d, p)}{_where(d, p, bind)}"
    if p.sort:
        sql += " ORDER BY " + ", ".join(f"{d.quote(s.column)} {s.direction}" for s in p.sort)
    if not p.return_all:
        sql += f" LIMIT {int(p.limit)}"
    return sql, bind.args


def row_values(p: Params, item: Item) -> dict[str, Any]:
    """The column → value mapping for one item (its json keys, or ``columns.value``)."""
    if p.columns.mapping_mode == "autoMapInputData":
        return dict(item.get("json") or {})
    return dict(p.columns.value)


def build_insert(d: Dialect, p: Params, values: dict[str, Any], *, upsert: bool = False) -> Statement:
    bind = _Binder(d)
    table = _table(d, p)
    cols = [d.quote(c) for c in values]
    if cols:
        marks = ", ".join(bind(v) for v in values.values())
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
    else:
        sql = (
            f"INSERT INTO {table} DEFAULT VALUES"
            if d.name == "postgres"
            else f"INSERT INTO {table} () VALUES ()"
        )
    if upsert:
        match = _matching(p, values)
        rest = [d.quote(c) for c in values if c not in match]
        if d.name == "postgres":
            target = ", ".join(d.quote(c) for c in match)
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
            sql += f" ON CONFLICT ({target}) " + (f"DO UPDATE SET {sets}" if rest else "DO NOTHING")
        else:
            sets = ", ".join(f"{c} = VALUES({c})" for c in rest or [d.quote(match[0])])
            sql += f" ON DUPLICATE KEY UPDATE {sets}"
    return sql + _returning(d, p), bind.args


def _matching(p: Params, values: dict[str, Any]) -> list[str]:
    match = [c for c in p.columns.matching_columns if c]
    if not match:
        raise ValueError("no column to match on (columnToMatchOn / matchingColumns)")
    missing = [c for c in match if c not in values]
    if missing:
        raise ValueError(f"the item has no value for the column to match on {missing[0]!r}")
    return match


def build_update(d: Dialect, p: Params, values: dict[str, Any]) -> Statement:
    bind = _Binder(d)
    match = _matching(p, values)
    sets = [f"{d.quote(c)} = {bind(v)}" for c, v in values.items() if c not in match]
    if not sets:
        raise ValueError("no columns to update besides the ones to match on")
    cond = " AND ".join(f"{d.quote(c)} = {bind(values[c])}" for c in match)
    return f"UPDATE {_table(d, p)} SET {', '.join(sets)} WHERE {cond}" + _returning(d, p), bind.args


def build_delete(d: Dialect, p: Params) -> Statement:
    table = _table(d, p)
    if p.delete_command == "delete":
        bind = _Binder(d)
        return f"DELETE FROM {table}{_where(d, p, bind)}", bind.args
    extra = ""
    if d.name == "postgres":
        if p.delete_command == "truncate" and p.options.restartSequences:
            extra += " RESTART IDENTITY"
        if p.options.cascade:
            extra += " CASCADE"
    verb = "TRUNCATE TABLE" if p.delete_command == "truncate" else "DROP TABLE"
    return f"{verb} {table}{extra}", []


def replacement_values(raw: Any) -> list[Any]:
    """``options.queryReplacement`` → the values for $1, $2 ...: a list as it is, a JSON array
    text, or a comma-separated text (each part trimmed)."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in text.split(",")]
    return [raw]


def build_query(d: Dialect, p: Params) -> Statement:
    values = replacement_values(p.options.queryReplacement)
    if d.name == "postgres":
        return p.query, values
    return mysql_placeholders(p.query, values)


# a quoted string/identifier or a comment (copied as is), or a placeholder/'%' (rewritten)
_MYSQL_TOKENS = re.compile(
    r"('(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`(?:[^`]|``)*`|--[^\n]*|#[^\n]*|/\*.*?\*/)"
    r"|(\$\d+|\?|%)",
    re.S,
)


def mysql_placeholders(sql: str, values: list[Any]) -> Statement:
    """n8n's ``$1``/``?`` placeholders → aiomysql's ``%s`` with the values in the order they are
    used; a literal ``%`` outside quotes becomes ``%%`` (the driver formats the text)."""
    args: list[Any] = []
    position = 0

    def swap(m: re.Match[str]) -> str:
        nonlocal position
        token = m.group(2)
        if token is None:
            return m.group(0).replace("%", "%%")
        if token == "%":
            return "%%"
        if token == "?":
            index, position = position, position + 1
        else:
            index = int(token[1:]) - 1
        if not 0 <= index < len(values):
            raise ValueError(f"the query uses {token} but only {len(values)} value(s) were given")
        args.append(values[index])
        return "%s"

    return _MYSQL_TOKENS.sub(swap, sql), args


# ---------------------------------------------------------------- results


def to_json(value: Any, numbers: bool = False) -> Any:
    """A driver value → JSON: decimals as text (n8n's default ``largeNumbersOutput``), times in ISO."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return float(value) if numbers else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode()
    if isinstance(value, dict):
        return {str(k): to_json(v, numbers) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v, numbers) for v in value]
    return str(value)


# ---------------------------------------------------------------- the per-item loop


class Session(Protocol):
    """One open connection of a node run."""

    db_errors: tuple[type[BaseException], ...]

    async def run(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]] | None:
        """Rows of the statement's result set, or None when it returns none (INSERT, DDL ...)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


class _ItemFailed(Exception):
    def __init__(self, error: NodeError, index: int) -> None:
        self.error = error
        self.index = index


def _statement(d: Dialect, p: Params, item: Item) -> Statement:
    match p.operation:
        case "executeQuery":
            return build_query(d, p)
        case "select":
            return build_select(d, p)
        case "insert":
            return build_insert(d, p, row_values(p, item))
        case "upsert":
            return build_insert(d, p, row_values(p, item), upsert=True)
        case "update":
            return build_update(d, p, row_values(p, item))
        case "deleteTable":
            return build_delete(d, p)


async def _run_item(ctx: NodeContext, session: Session, d: Dialect, p: Params, item: Item, i: int) -> Items:
    try:
        sql, args = _statement(d, p, item)
        rows = await session.run(sql, args)
    except ValueError as exc:  # a bad identifier, a missing value: retrying will not help
        raise _ItemFailed(NodeError(str(exc), node=ctx.node_name, item_index=i, retryable=False), i) from exc
    except session.db_errors as exc:
        message = f"{type(exc).__name__}: {exc}"
        raise _ItemFailed(NodeError(message, node=ctx.node_name, item_index=i, retryable=False), i) from exc
    paired = {"item": i}
    if rows is None:
        return [{"json": {"success": True}, "pairedItem": paired}]
    numbers = p.options.largeNumbersOutput == "numbers"
    return [{"json": {k: to_json(v, numbers) for k, v in row.items()}, "pairedItem": paired} for row in rows]


async def execute_items(
    ctx: NodeContext, items: Items, session: Session, d: Dialect, params: Sequence[BaseModel]
) -> Items:
    """Run the operation once per item. ``queryBatching`` single/transaction: all items in one
    transaction (a failure rolls all of them back); independently: each item on its own."""
    per_item = [p for p in params if isinstance(p, Params)]
    out: Items = []
    if per_item and per_item[0].options.queryBatching != "independently":
        try:
            async with session.transaction():
                for i, (item, p) in enumerate(zip(items, per_item, strict=True)):
                    out.extend(await _run_item(ctx, session, d, p, item, i))
        except _ItemFailed as failed:
            # everything before the failure was rolled back, so only the error item remains
            handled = ctx.fail_item(failed.error, failed.index, items[failed.index])
            return [handled] if handled is not None else []
        return out
    for i, (item, p) in enumerate(zip(items, per_item, strict=True)):
        try:
            out.extend(await _run_item(ctx, session, d, p, item, i))
        except _ItemFailed as failed:
            handled = ctx.fail_item(failed.error, i, item)
            if handled is not None:
                out.append(handled)
    return out


def connect_error(ctx: NodeContext, what: str, exc: BaseException) -> NodeError:
    """A connection that could not be opened: another try may help."""
    return NodeError(f"could not connect to {what}: {exc}", node=ctx.node_name, retryable=True)
