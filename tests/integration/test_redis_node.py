"""The Redis node (n8n ``redis`` v1) against the machine's Redis, through the engine.

Each test works under its own key prefix and deletes what it wrote. The credential comes from a
small fake vault (the port is all the engine knows; relayflow/credentials/vault.py is tested
elsewhere).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from redis.asyncio import Redis

from relayflow.engine.executor import Engine
from relayflow.errors import CredentialUnavailable
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node
from relayflow.testing.services import require_or_skip, tcp_open

pytestmark = pytest.mark.services

T = "n8n-nodes-base.redis"
HOST, PORT = "127.0.0.1", 6379
REF = {"id": "redis-1", "name": "Local Redis"}
CREDENTIALS = {"credentials": {"redis": REF}}


class FakeVault:
    """One redis credential; anything else is unavailable."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        if type_ != "redis" or ref.get("id") != REF["id"]:
            raise CredentialUnavailable(f"{type_} credential {ref.get('name')!r} is not available")
        return dict(self.fields)


def engine_for(database: int = 0) -> Engine:
    vault = FakeVault({"host": HOST, "port": PORT, "password": "", "database": database})
    return make_engine(credentials=vault)


async def redis_node(
    parameters: Mapping[str, Any],
    items: Any = None,
    *,
    engine: Engine | None = None,
    on_error: str | None = None,
    type_: str = T,
) -> list[dict[str, Any]]:
    """Run the node once; the ``json`` of its first output."""
    fields: dict[str, Any] = dict(CREDENTIALS)
    if on_error:
        fields["onError"] = on_error
    out = await run_node(type_, parameters, items, node_fields=fields, engine=engine or engine_for())
    return output_json(out)


@pytest.fixture
async def direct() -> AsyncIterator[Redis]:
    """A client of our own, to look at what the node did (db 0, and db 2 for one test)."""
    if not tcp_open(HOST, PORT):
        require_or_skip("Redis", f"nothing listens on {HOST}:{PORT}")
    client = Redis(host=HOST, port=PORT, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(direct: Redis) -> AsyncIterator[str]:
    """This test's key prefix; its keys are deleted afterwards (in databases 0 and 2)."""
    p = f"rf-test:{uuid.uuid4().hex[:12]}:"
    yield p
    for db in (0, 2):
        client = Redis(host=HOST, port=PORT, db=db, decode_responses=True)
        keys = [k async for k in client.scan_iter(match=p + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_set_and_get_strings_with_expressions_per_item(direct: Redis, prefix: str) -> None:
    items = [{"id": "a", "v": "one"}, {"id": "b", "v": "two"}]
    out = await redis_node(
        {"operation": "set", "key": f"={prefix}{{{{ $json.id }}}}", "value": "={{ $json.v }}!"}, items
    )
    assert out == items  # set passes its items through
    assert await direct.get(prefix + "a") == "one!"
    assert await direct.get(prefix + "b") == "two!"
    assert await direct.ttl(prefix + "a") == -1  # no expiry unless asked

    got = await redis_node(
        {"operation": "get", "key": f"={prefix}{{{{ $json.id }}}}", "propertyName": "found"}, items
    )
    assert got == [{"id": "a", "v": "one", "found": "one!"}, {"id": "b", "v": "two", "found": "two!"}]


async def test_set_with_ttl_expires_the_key(direct: Redis, prefix: str) -> None:
    await redis_node({"operation": "set", "key": prefix + "t", "value": "x", "expire": True, "ttl": 120})
    assert 0 < await direct.ttl(prefix + "t") <= 120


async def test_set_each_key_type_and_get_it_back_automatically_and_explicitly(
    direct: Redis, prefix: str
) -> None:
    await redis_node(
        {"operation": "set", "key": prefix + "h", "keyType": "hash", "value": '{"a": 1, "b": "x"}'}
    )
    await redis_node({"operation": "set", "key": prefix + "l", "keyType": "list", "value": '["x", "y", 3]'})
    await redis_node({"operation": "set", "key": prefix + "s", "keyType": "sets", "value": '["m", "n"]'})
    await redis_node({"operation": "set", "key": prefix + "s", "keyType": "sets", "value": "o"})
    assert await direct.hgetall(prefix + "h") == {"a": "1", "b": "x"}
    assert await direct.lrange(prefix + "l", 0, -1) == ["x", "y", "3"]
    assert await direct.smembers(prefix + "s") == {"m", "n", "o"}

    for key, key_type, expected in [
        ("h", "hash", {"a": "1", "b": "x"}),
        ("l", "list", ["x", "y", "3"]),
        ("s", "sets", ["m", "n", "o"]),
    ]:
        for asked in ("automatic", key_type):
            params = {"operation": "get", "key": prefix + key, "keyType": asked, "propertyName": "v"}
            assert await redis_node(params) == [{"v": expected}], (key, asked)

    # a list set again replaces the old one, as a string would be
    await redis_node({"operation": "set", "key": prefix + "l", "keyType": "list", "value": '["z"]'})
    assert await direct.lrange(prefix + "l", 0, -1) == ["z"]


async def test_get_missing_key_and_dot_notation(direct: Redis, prefix: str) -> None:
    await direct.set(prefix + "k", "v")
    nested = await redis_node({"operation": "get", "key": prefix + "k", "propertyName": "a.b"})
    assert nested == [{"a": {"b": "v"}}]
    flat = await redis_node(
        {"operation": "get", "key": prefix + "k", "propertyName": "a.b", "options": {"dotNotation": False}}
    )
    assert flat == [{"a.b": "v"}]
    missing = await redis_node({"operation": "get", "key": prefix + "nope", "propertyName": "v"})
    assert missing == [{"v": None}]


async def test_delete(direct: Redis, prefix: str) -> None:
    await direct.set(prefix + "d", "1")
    out = await redis_node({"operation": "delete", "key": prefix + "d"}, [{"keep": 1}])
    assert out == [{"keep": 1}]
    assert await direct.exists(prefix + "d") == 0


async def test_incr_counts_per_item_and_sets_the_ttl(direct: Redis, prefix: str) -> None:
    key = prefix + "n"
    out = await redis_node({"operation": "incr", "key": key, "expire": True, "ttl": 300}, [{}, {}, {}])
    assert out == [{key: 1}, {key: 2}, {key: 3}]
    assert 0 < await direct.ttl(key) <= 300
    again = await redis_node({"operation": "incr", "key": key})
    assert again == [{key: 4}]


async def test_keys_with_and_without_values(direct: Redis, prefix: str) -> None:
    await direct.set(prefix + "k:a", "1")
    await direct.rpush(prefix + "k:b", "x", "y")
    await direct.set(prefix + "other", "no")
    with_values = await redis_node({"operation": "keys", "keyPattern": prefix + "k:*"})
    assert with_values == [{prefix + "k:a": "1", prefix + "k:b": ["x", "y"]}]
    names = await redis_node({"operation": "keys", "keyPattern": prefix + "k:*", "getValues": False})
    assert names == [{"keys": [prefix + "k:a", prefix + "k:b"]}]


async def test_publish_reaches_a_subscriber(direct: Redis, prefix: str) -> None:
    channel = prefix + "events"
    pubsub = direct.pubsub()
    await pubsub.subscribe(channel)
    try:
        first = await pubsub.get_message(timeout=5)
        assert first is not None and first["type"] == "subscribe"
        out = await redis_node(
            {"operation": "publish", "channel": channel, "messageData": "={{ $json.msg }}"},
            [{"msg": "hello"}],
        )
        assert out == [{"msg": "hello"}]
        message = None
        for _ in range(50):  # bounded wait for delivery, not a timing assertion
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                break
        assert message is not None
        assert (message["channel"], message["data"]) == (channel, "hello")
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_push_and_pop_at_head_and_tail(direct: Redis, prefix: str) -> None:
    lst = prefix + "q"
    await redis_node({"operation": "push", "list": lst, "messageData": "b"})
    await redis_node({"operation": "push", "list": lst, "messageData": "a"})  # head
    await redis_node({"operation": "push", "list": lst, "messageData": '{"n": 1}', "tail": True})
    assert await direct.lrange(lst, 0, -1) == ["a", "b", '{"n": 1}']

    tail = await redis_node(
        {"operation": "pop", "list": lst, "tail": True, "propertyName": "out.v"}, [{"x": 1}]
    )
    assert tail == [{"x": 1, "out": {"v": {"n": 1}}}]  # JSON comes back parsed
    head = await redis_node({"operation": "pop", "list": lst, "propertyName": "v"})
    assert head == [{"v": "a"}]
    assert await direct.lrange(lst, 0, -1) == ["b"]
    await redis_node({"operation": "pop", "list": lst, "propertyName": "v"})
    empty = await redis_node({"operation": "pop", "list": lst, "propertyName": "v"})
    assert empty == [{"v": None}]


async def test_info_answers_once_for_all_items(direct: Redis) -> None:
    out = await redis_node({"operation": "info"}, [{}, {}])
    assert len(out) == 1
    assert out[0]["redis_version"] == (await direct.info("server"))["redis_version"]


async def test_the_credential_database_is_used(direct: Redis, prefix: str) -> None:
    await redis_node(
        {"operation": "set", "key": prefix + "db", "value": "two"}, engine=engine_for(database=2)
    )
    other = Redis(host=HOST, port=PORT, db=2, decode_responses=True)
    try:
        assert await other.get(prefix + "db") == "two"
    finally:
        await other.aclose()
    assert await direct.exists(prefix + "db") == 0


async def test_relayflow_parameter_names(direct: Redis, prefix: str) -> None:
    params = {"operation": "set", "key": prefix + "r", "value": "v", "expire": True, "ttl_s": 50}
    await redis_node(params, type_="relayflow.redis")
    assert 0 < await direct.ttl(prefix + "r") <= 50


async def test_wrong_type_fails_the_node_by_name(direct: Redis, prefix: str) -> None:
    await direct.hset(prefix + "h", mapping={"a": "1"})
    with pytest.raises(NodeRunFailed) as failed:
        await redis_node({"operation": "incr", "key": prefix + "h"})
    assert failed.value.error["node"] == "Node"
    assert "WRONGTYPE" in failed.value.error["message"]


async def test_continue_on_fail_keeps_going(direct: Redis, prefix: str) -> None:
    await direct.hset(prefix + "h", mapping={"a": "1"})
    items = [{"k": "h"}, {"k": "n"}]
    params = {"operation": "incr", "key": f"={prefix}{{{{ $json.k }}}}"}
    out = await redis_node(params, items, on_error="continueRegularOutput")
    assert "WRONGTYPE" in out[0]["error"]
    assert out[1] == {prefix + "n": 1}


async def test_bad_json_for_a_hash_is_an_item_error(direct: Redis, prefix: str) -> None:
    params = {"operation": "set", "key": prefix + "h", "keyType": "hash", "value": "not json"}
    with pytest.raises(NodeRunFailed) as failed:
        await redis_node(params)
    assert failed.value.error["node"] == "Node"
    assert "JSON" in failed.value.error["message"]
    assert await direct.exists(prefix + "h") == 0


async def test_no_credential_fails_clearly(direct: Redis) -> None:
    with pytest.raises(NodeRunFailed) as failed:
        await run_node(T, {"operation": "info"}, engine=engine_for())
    assert failed.value.error["code"] == "credential_unavailable"
