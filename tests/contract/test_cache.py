"""The cache contract on the in-process LRU (L1 alone) and on the tiered cache (L1 + real Redis as
L2, invalidation over the Redis event bus), then what only the tiered cache does: a second
process (a second ``TieredCache`` with its own L1 and bus) reads through L2 and hears
invalidations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from relayflow.cluster.bus_redis import RedisEventBus
from relayflow.cluster.cache import LruCache, TieredCache
from relayflow.cluster.ports import Cache
from relayflow.cluster.redis_common import async_client, cache_key
from relayflow.engine.memory import FakeClock
from tests.contract.redis_support import delete_prefix, eventually, new_prefix, require_redis

WF = {"id": "wf1", "name": "Flow", "nodes": [{"name": "Start", "type": "n8n-nodes-base.manualTrigger"}]}
MakeTiered = Callable[[], Awaitable[TieredCache]]


@pytest.fixture
async def make_tiered() -> AsyncIterator[MakeTiered]:
    """Each call: one more process (its own client, bus and L1) on this test's prefix. Redis is
    only needed (and its keys cleaned up) once the test makes one."""
    opened: list[tuple[TieredCache, RedisEventBus, Redis]] = []
    prefix = new_prefix()

    async def make() -> TieredCache:
        url = require_redis()
        client, bus = async_client(url), RedisEventBus(url, prefix=prefix)
        cache = TieredCache(LruCache(100), client, bus, prefix=prefix)
        opened.append((cache, bus, client))
        await cache.start()
        return cache

    yield make
    for cache, bus, client in opened:
        await cache.close()
        await bus.close()
        await client.aclose()
    if opened:
        await delete_prefix(prefix)


@pytest.fixture(params=["memory", pytest.param("tiered", marks=pytest.mark.services)])
async def cache(request: pytest.FixtureRequest, make_tiered: MakeTiered) -> Cache:
    if request.param == "memory":
        return LruCache(100)
    return await make_tiered()


async def test_miss_then_set_then_hit(cache: Cache) -> None:
    assert await cache.get("wf:wf1:3") is None
    await cache.set("wf:wf1:3", WF)
    assert await cache.get("wf:wf1:3") == WF
    assert await cache.get("wf:wf1:4") is None


async def test_set_replaces_and_invalidate_drops(cache: Cache) -> None:
    await cache.set("cred:c1:meta", {"type": "slackApi", "name": "Slack"})
    await cache.set("cred:c1:meta", {"type": "slackApi", "name": "Slack (team)"})
    assert await cache.get("cred:c1:meta") == {"type": "slackApi", "name": "Slack (team)"}
    await cache.invalidate("cred:c1:meta")
    await cache.invalidate("cred:c1:meta")  # twice, or a key never set: harmless
    await cache.invalidate("never-set")
    assert await cache.get("cred:c1:meta") is None


async def test_json_values_of_every_kind(cache: Cache) -> None:
    values = {"s": "text", "i": 7, "f": 1.5, "b": False, "l": [1, "a", None], "d": {"k": {"n": []}}}
    for key, value in values.items():
        await cache.set(key, value)
    for key, value in values.items():
        assert await cache.get(key) == value


async def test_a_value_redis_could_not_carry_is_refused_by_the_tiered_cache(make_tiered: MakeTiered) -> None:
    cache = await make_tiered()
    with pytest.raises(TypeError):
        await cache.set("k", {"when": object()})
    assert await cache.get("k") is None


# --- the L1 on its own ------------------------------------------------------------------------


async def test_l1_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    l1 = LruCache(10, ttl_s=60, clock=clock)
    await l1.set("a", 1)
    await l1.set("b", 2, ttl_s=5)  # shorter than the cache's own
    await l1.set("c", 3, ttl_s=600)  # capped at the cache's 60 s
    await clock.sleep(5)
    assert (await l1.get("a"), await l1.get("b"), await l1.get("c")) == (1, None, 3)
    await clock.sleep(55)
    assert (await l1.get("a"), await l1.get("c")) == (None, None)
    assert len(l1) == 0


async def test_l1_is_bounded_and_drops_the_least_recently_used() -> None:
    l1 = LruCache(3, ttl_s=None)
    for key in "abc":
        l1.put(key, key.upper())
    assert l1.peek("a") == "A"  # a is now the most recent
    l1.put("d", "D")
    assert [l1.peek(k) for k in "abcd"] == ["A", None, "C", "D"]
    assert len(l1) == 3
    with pytest.raises(ValueError):
        LruCache(0)


async def test_l1_never_caches_none() -> None:
    l1 = LruCache(3)
    l1.put("a", 1)
    l1.put("a", None)
    assert l1.peek("a") is None and len(l1) == 0


# --- tiered: two processes --------------------------------------------------------------------


async def test_a_second_process_reads_through_l2_and_keeps_it_in_l1(make_tiered: MakeTiered) -> None:
    api, worker = await make_tiered(), await make_tiered()
    await api.set("wf:wf1:3", WF)
    assert worker.l1.peek("wf:wf1:3") is None
    assert await worker.get("wf:wf1:3") == WF
    assert worker.l1.peek("wf:wf1:3") == WF
    assert (worker.hits_l1, worker.hits_l2, worker.misses) == (0, 1, 0)
    assert await worker.get("wf:wf1:3") == WF
    assert (worker.hits_l1, worker.hits_l2) == (1, 1)


async def test_l2_entries_expire(make_tiered: MakeTiered) -> None:
    api, worker = await make_tiered(), await make_tiered()
    await api.set("short", {"v": 1}, ttl_s=0.2)
    raw = await api.redis.pttl(cache_key(api.prefix, "short"))
    assert 0 < raw <= 200
    await eventually(lambda: worker.get("short"), "the value in L2")
    worker.l1.drop("short")
    await eventually(lambda: _is_none(worker.get("short")), "the L2 entry to expire")
    # the default TTL applies when none is given
    await api.set("default", 1)
    assert 590_000 < await api.redis.pttl(cache_key(api.prefix, "default")) <= 600_000


async def _is_none(value: Awaitable[object]) -> bool:
    return await value is None


async def test_invalidation_reaches_the_other_processes_l1(make_tiered: MakeTiered) -> None:
    editor, worker_1, worker_2 = await make_tiered(), await make_tiered(), await make_tiered()
    await editor.set("wf:wf1:active", {"version": 3})
    for worker in (worker_1, worker_2):
        assert await worker.get("wf:wf1:active") == {"version": 3}
        assert worker.l1.peek("wf:wf1:active") == {"version": 3}
    # the store changed: the writer invalidates, and nobody serves the old value any more
    await editor.invalidate("wf:wf1:active")
    for worker in (worker_1, worker_2):
        await eventually(lambda w=worker: w.l1.peek("wf:wf1:active") is None, "the L1 drop")  # type: ignore[misc]
        assert await worker.get("wf:wf1:active") is None
    assert await editor.redis.exists(cache_key(editor.prefix, "wf:wf1:active")) == 0
    # and the next writer's value is read by all
    await worker_1.set("wf:wf1:active", {"version": 4})
    assert await worker_2.get("wf:wf1:active") == {"version": 4}


async def test_other_keys_survive_an_invalidation(make_tiered: MakeTiered) -> None:
    a, b = await make_tiered(), await make_tiered()
    await a.set("k1", 1)
    await a.set("k2", 2)
    assert (await b.get("k1"), await b.get("k2")) == (1, 2)
    await a.invalidate("k1")
    await eventually(lambda: b.l1.peek("k1") is None, "k1 dropped")
    assert b.l1.peek("k2") == 2
    assert a.healthy and b.healthy
