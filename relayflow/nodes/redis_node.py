"""Redis: read, write, count, list and publish through a ``redis`` credential (n8n ``redis`` v1).

Operations run once per input item, except ``info``, which answers once for the whole run. The
node opens one client for its run and closes it when the run ends: a connection per node run is
cheap next to a workflow step, and no pool outlives an execution holding a credential's secret.

Values written to a key of type hash, list or set come from ``value`` as JSON (an object for a
hash, an array for a list or set; a set also takes one plain string). ``get`` with ``automatic``
asks Redis for the key's type; a missing key reads as ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput, forward
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import set_path
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec

if TYPE_CHECKING:  # the driver is loaded when the node runs, not when the registry is built
    from redis.asyncio import Redis

Operation = Literal["get", "set", "delete", "incr", "keys", "publish", "push", "pop", "info"]
KeyType = Literal["automatic", "string", "hash", "list", "sets"]
CONNECT_TIMEOUT_S = 10.0


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Operation = "info"
    key: str = ""
    # get / pop: where the value goes in the item (a dot path unless dot_notation is off)
    property_name: str = "propertyName"
    dot_notation: bool = True
    key_type: KeyType = "automatic"
    # set: the value to write (JSON for hash, list and set keys)
    value: Any = ""
    expire: bool = False
    ttl_s: int = 60
    key_pattern: str = ""
    get_values: bool = True
    channel: str = ""
    list_name: str = ""
    message_data: Any = ""
    # push / pop at the end of the list (RPUSH / RPOP) instead of its head
    tail: bool = False


def _client(cred: Mapping[str, Any]) -> Redis:
    from redis.asyncio import Redis

    return Redis(
        host=str(cred.get("host") or "localhost"),
        port=int(cred.get("port") or 6379),
        password=cred.get("password") or None,
        db=int(cred.get("database") or 0),
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
    )


def _as_json(value: Any, what: str, kind: type) -> Any:
    """``value`` as the JSON ``kind`` a hash/list/set write needs (expressions may already give one)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NodeError(f"the value for a {what} key must be JSON", retryable=False) from None
    if not isinstance(value, kind):
        raise NodeError(f"the value for a {what} key must be a JSON {kind.__name__}", retryable=False)
    return value


def _text(value: Any) -> str:
    """A scalar as Redis stores it (JSON for objects, ``true``/``false`` like JavaScript)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


# what TYPE answers -> the key type to read it as ("none": the key does not exist)
_TYPES: dict[str, KeyType] = {"string": "string", "hash": "hash", "list": "list", "set": "sets"}


async def _get(client: Redis, key: str, key_type: KeyType) -> Any:
    if key_type == "automatic":
        key_type = _TYPES.get(str(await client.type(key)), "automatic")
    if key_type == "string":
        return await client.get(key)
    if key_type == "hash":
        return await client.hgetall(key)
    if key_type == "list":
        return await client.lrange(key, 0, -1)
    if key_type == "sets":
        return sorted(await client.smembers(key))  # sorted: a set has no order of its own
    return None


async def _set(client: Redis, p: Params) -> None:
    key_type = p.key_type
    if key_type == "automatic":
        key_type = "hash" if isinstance(p.value, dict) else "list" if isinstance(p.value, list) else "string"
    if key_type == "string":
        await client.set(p.key, _text(p.value))
    elif key_type == "hash":
        fields = _as_json(p.value, "hash", dict)
        if fields:
            await client.hset(p.key, mapping={k: _text(v) for k, v in fields.items()})
    elif key_type == "list":
        values = _as_json(p.value, "list", list)
        # the list becomes the value, as for a string: replace what was there
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(p.key)
            if values:
                pipe.rpush(p.key, *[_text(v) for v in values])
            await pipe.execute()
    else:
        # one plain string is one member; a JSON array is several
        plain = isinstance(p.value, str) and not p.value.lstrip().startswith("[")
        members = [p.value] if plain else _as_json(p.value, "set", list)
        if members:
            await client.sadd(p.key, *[_text(v) for v in members])
    if p.expire:
        await client.expire(p.key, p.ttl_s)


def _parsed(value: str | None) -> Any:
    """A popped element: JSON when it is JSON, the string otherwise."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _with(item: Item, i: int, p: Params, value: Any) -> Item:
    out = forward(item, i)
    out["json"] = dict(out["json"])
    set_path(out["json"], p.property_name, value, p.dot_notation)
    return out


async def _run_one(client: Redis, item: Item, i: int, p: Params) -> Item:
    """One item through one operation; the item that goes to the output."""
    op = p.operation
    if op == "get":
        return _with(item, i, p, await _get(client, p.key, p.key_type))
    if op == "pop":
        popped = await (client.rpop(p.list_name) if p.tail else client.lpop(p.list_name))
        return _with(item, i, p, _parsed(cast("str | None", popped)))
    if op == "incr":
        value = await client.incr(p.key)
        if p.expire:
            await client.expire(p.key, p.ttl_s)
        return {"json": {p.key: value}, "pairedItem": {"item": i}}
    if op == "keys":
        keys = sorted(str(k) for k in await client.keys(p.key_pattern))
        if not p.get_values:
            return {"json": {"keys": keys}, "pairedItem": {"item": i}}
        return {"json": {k: await _get(client, k, "automatic") for k in keys}, "pairedItem": {"item": i}}
    if op == "set":
        await _set(client, p)
    elif op == "delete":
        await client.delete(p.key)
    elif op == "publish":
        await client.publish(p.channel, _text(p.message_data))
    elif op == "push":
        data = _text(p.message_data)
        await (client.rpush(p.list_name, data) if p.tail else client.lpush(p.list_name, data))
    return forward(item, i)


def _node_error(exc: Exception, node: str, i: int | None) -> NodeError:
    from redis import exceptions as rx

    if isinstance(exc, NodeError):
        exc.node = exc.node or node
        exc.item_index = i if exc.item_index is None else exc.item_index
        return exc
    # a refused or dropped connection may come back; a command Redis rejected will not
    retryable = isinstance(exc, rx.ConnectionError | rx.TimeoutError)
    return NodeError(f"Redis: {exc}", node=node, item_index=i, retryable=retryable)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    from redis.exceptions import RedisError

    client = _client(await ctx.credentials("redis"))
    try:
        if params.operation == "info":
            try:
                return [[{"json": dict(await client.info())}]]
            except RedisError as exc:
                raise _node_error(exc, ctx.node_name, None) from exc
        all_params = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
        out: Items = []
        for i, (item, ip) in enumerate(zip(items, all_params, strict=True)):
            try:
                out.append(await _run_one(client, item, i, cast(Params, ip)))
            except (RedisError, NodeError) as exc:
                failed = ctx.fail_item(_node_error(exc, ctx.node_name, i), i)
                if failed is not None:
                    out.append(failed)
        return [out]
    finally:
        await client.aclose()


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    names = {
        "operation": "operation",
        "key": "key",
        "propertyName": "property_name",
        "keyType": "key_type",
        "value": "value",
        "expire": "expire",
        "ttl": "ttl_s",
        "keyPattern": "key_pattern",
        "getValues": "get_values",
        "channel": "channel",
        "list": "list_name",
        "messageData": "message_data",
        "tail": "tail",
    }
    out = {ours: p[theirs] for theirs, ours in names.items() if theirs in p}
    options = p.get("options") or {}
    if "dotNotation" in options:
        out["dot_notation"] = options["dotNotation"]
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.redis",
        version=1,
        title="Redis",
        group="action",
        description="Get, set, delete, increment, list, push, pop and publish Redis keys, or read INFO.",
        params=Params,
        execute=execute,
        credentials=(CredentialSlot("redis", required=True),),
        aliases=(N8nAlias("n8n-nodes-base.redis", (1,), translate=from_n8n),),
    ),
)
