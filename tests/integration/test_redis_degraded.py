"""F7 without stopping the machine's Redis: the bus, the cache and the rate limiter pointed at a
port where nothing listens, at a server that accepts and never answers (a hanging Redis), and at
a proxy to the real Redis that is cut and restored (a restart as clients see it). Every call
returns promptly without raising, ``healthy`` turns False, and everything recovers once Redis is
back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from relayflow.cluster.bus_redis import RedisEventBus
from relayflow.cluster.cache import LruCache, TieredCache
from relayflow.cluster.ratelimit_redis import RedisRateLimits
from relayflow.cluster.redis_common import async_client, cache_key
from relayflow.engine.memory import FakeClock
from relayflow.errors import RateLimited
from tests.contract.redis_support import (
    REDIS_URL,
    HangingServer,
    RedisProxy,
    closed_port,
    eventually,
    redis_prefix,
    require_redis,
)

TIMEOUT_S = 0.2
# generous: a degraded call may wait for one timeout (twice, with the asyncio guard), never more
PROMPT_S = 4 * TIMEOUT_S + 0.3


class Clocked:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __enter__(self) -> Clocked:
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.monotonic() - self.started
        assert elapsed < PROMPT_S, f"took {elapsed:.2f}s"


@pytest.fixture(params=["nothing listening", "hanging"])
async def degraded_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "hanging":
        async with HangingServer() as server:
            yield server.url
    else:
        yield f"redis://127.0.0.1:{closed_port()}/0"


@pytest.fixture
async def proxy() -> AsyncIterator[RedisProxy]:
    require_redis()
    p = RedisProxy()
    await p.start()
    yield p
    await p.cut()


async def test_bus_publish_and_subscribe_degrade_without_raising(degraded_url: str) -> None:
    url = degraded_url
    bus = RedisEventBus(url, prefix="rf-test:down:", timeout_s=TIMEOUT_S)
    try:
        with Clocked():
            await bus.publish("events.e1", {"n": 1})
        assert not bus.healthy
        with Clocked():
            for i in range(50):  # the outage gate: no waiting on each one
                await bus.publish("events.e1", {"n": i})
        assert bus.dropped == 51
        with Clocked():
            sub = await bus.subscribe("events.*", lambda channel, message: None)
        assert not bus.healthy
        assert await bus.ping() is False
        await sub.close()
    finally:
        with Clocked():
            await bus.close()


async def test_cache_serves_l1_or_misses_without_raising(degraded_url: str) -> None:
    url = degraded_url
    client, bus = async_client(url, timeout_s=TIMEOUT_S), RedisEventBus(url, timeout_s=TIMEOUT_S)
    cache = TieredCache(LruCache(10), client, bus, timeout_s=TIMEOUT_S)
    try:
        with Clocked():
            assert await cache.get("wf:w:1") is None
            await cache.set("wf:w:1", {"v": 1})  # L1 only
            assert await cache.get("wf:w:1") == {"v": 1}
            await cache.invalidate("wf:w:1")
            assert await cache.get("wf:w:1") is None
        assert not cache.healthy
    finally:
        await cache.close()
        await bus.close()
        await client.aclose()


async def test_rate_limits_on_a_degraded_redis_fall_back_promptly(degraded_url: str) -> None:
    limits = RedisRateLimits(None, FakeClock(), url=degraded_url, timeout_s=TIMEOUT_S)
    try:
        with Clocked():
            for _ in range(limits.settings.per_minute):
                limits.request("key:k")
            with pytest.raises(RateLimited):
                limits.request("key:k")
        assert not limits.healthy
    finally:
        limits.close()


@pytest.mark.services
async def test_the_bus_survives_a_redis_restart(proxy: RedisProxy) -> None:
    got: list[Mapping[str, Any]] = []
    async with redis_prefix() as prefix:
        via_proxy = RedisEventBus(proxy.url, prefix=prefix, timeout_s=TIMEOUT_S, max_backoff_s=0.5)
        direct = RedisEventBus(REDIS_URL, prefix=prefix)
        try:
            await via_proxy.subscribe("events.*", lambda channel, message: got.append(message))
            await direct.publish("events.e", {"n": 1})
            await eventually(lambda: len(got) == 1, "the first message")

            await proxy.cut()
            await eventually(lambda: not via_proxy.healthy, "the bus to notice")
            with Clocked():
                await via_proxy.publish("events.e", {"lost": True})  # dropped, not raised
            await direct.publish("events.e", {"lost": True})  # at most once: missed

            await proxy.restore()
            await eventually(lambda: via_proxy.reconnects == 1, "the reader to resubscribe")
            await direct.publish("events.e", {"n": 2})
            await eventually(lambda: len(got) == 2, "messages after the restart")
            await eventually(lambda: via_proxy.ping(), "publishing to work again")
            assert via_proxy.healthy
            assert got == [{"n": 1}, {"n": 2}]
        finally:
            await via_proxy.close()
            await direct.close()


@pytest.mark.services
async def test_the_bus_notices_a_hanging_redis_by_ping(proxy: RedisProxy) -> None:
    async with redis_prefix() as prefix:
        bus = RedisEventBus(proxy.url, prefix=prefix, timeout_s=TIMEOUT_S, ping_interval_s=0.2)
        try:
            await bus.subscribe("x", lambda channel, message: None)
            assert bus.healthy
            proxy.freeze()
            await eventually(lambda: not bus.healthy, "the missing PONG to count as an outage")
            proxy.thaw()
            await eventually(lambda: bus.healthy, "the reader to come back")
        finally:
            await bus.close()


@pytest.mark.services
async def test_an_invalidation_made_during_an_outage_lands_once_redis_is_back(proxy: RedisProxy) -> None:
    async with redis_prefix() as prefix:
        a_client = async_client(proxy.url, timeout_s=TIMEOUT_S)
        a_bus = RedisEventBus(proxy.url, prefix=prefix, timeout_s=TIMEOUT_S, max_backoff_s=0.5)
        b_client, b_bus = async_client(REDIS_URL), RedisEventBus(REDIS_URL, prefix=prefix)
        a = TieredCache(LruCache(10), a_client, a_bus, prefix=prefix, timeout_s=TIMEOUT_S)
        b = TieredCache(LruCache(10), b_client, b_bus, prefix=prefix)
        try:
            await a.set("cred:c:meta", {"name": "old"})
            assert await b.get("cred:c:meta") == {"name": "old"}

            await proxy.cut()
            with Clocked():
                await a.invalidate("cred:c:meta")  # L2 unreachable: remembered, not raised
            assert a.l1.peek("cred:c:meta") is None
            assert await b_client.exists(cache_key(prefix, "cred:c:meta")) == 1

            await proxy.restore()
            # the next L2 call after the backoff deletes the entry and tells the others
            await eventually(lambda: _touch(a), "a's L2 to be usable again", timeout_s=10)
            await eventually(lambda: _dropped_after_touch(a, b, "cred:c:meta"), "b's L1 drop", 10)
            assert not a._pending
            assert await b_client.exists(cache_key(prefix, "cred:c:meta")) == 0
            assert await b.get("cred:c:meta") is None
        finally:
            for cache, bus, client in ((a, a_bus, a_client), (b, b_bus, b_client)):
                await cache.close()
                await bus.close()
                await client.aclose()


async def _dropped_after_touch(a: TieredCache, b: TieredCache, key: str) -> bool:
    await _touch(a)  # any L2 call of a's retries what is pending
    return b.l1.peek(key) is None


async def _touch(cache: TieredCache) -> bool:
    await cache.get("anything")
    return not cache.l2.down


@pytest.mark.services
async def test_l1_is_dropped_after_the_bus_was_away(proxy: RedisProxy) -> None:
    async with redis_prefix() as prefix:
        a_bus = RedisEventBus(proxy.url, prefix=prefix, timeout_s=TIMEOUT_S, max_backoff_s=0.5)
        client, b_bus = async_client(REDIS_URL), RedisEventBus(REDIS_URL, prefix=prefix)
        a = TieredCache(LruCache(10), client, a_bus, prefix=prefix)
        b = TieredCache(LruCache(10), client, b_bus, prefix=prefix)
        try:
            await b.set("wf:w:active", {"version": 1})
            assert await a.get("wf:w:active") == {"version": 1}
            await proxy.cut()
            await eventually(lambda: not a_bus.healthy, "a's bus to notice")
            await b.invalidate("wf:w:active")  # a misses this message
            assert a.l1.peek("wf:w:active") == {"version": 1}
            await proxy.restore()
            await eventually(lambda: a_bus.reconnects == 1, "a's bus to reconnect")
            assert await a.get("wf:w:active") is None  # L1 cleared, L2 says gone
        finally:
            for cache in (a, b):
                await cache.close()
            await a_bus.close()
            await b_bus.close()
            await client.aclose()


@pytest.mark.services
async def test_a_read_that_raced_an_invalidation_does_not_fill_l1(proxy: RedisProxy) -> None:
    async with redis_prefix() as prefix:
        slow_client, fast_client = async_client(proxy.url, timeout_s=5), async_client(REDIS_URL)
        a_bus, b_bus = RedisEventBus(REDIS_URL, prefix=prefix), RedisEventBus(REDIS_URL, prefix=prefix)
        a = TieredCache(LruCache(10), fast_client, a_bus, prefix=prefix)
        b = TieredCache(LruCache(10), slow_client, b_bus, prefix=prefix)
        try:
            await b.start()
            await slow_client.ping()  # connected (its handshake is not held)
            await a.set("wf:w:active", {"version": 1})
            proxy.hold_replies()
            reading = asyncio.create_task(b.get("wf:w:active"))  # GET served, answer held
            await asyncio.sleep(0.1)
            await a.invalidate("wf:w:active")
            await eventually(lambda: b._epoch > 0, "b to hear the invalidation")
            proxy.thaw()
            assert await reading == {"version": 1}  # read before the invalidation: fine once
            assert b.l1.peek("wf:w:active") is None  # but not kept
            assert await b.get("wf:w:active") is None
        finally:
            for cache in (a, b):
                await cache.close()
            for bus in (a_bus, b_bus):
                await bus.close()
            for client in (slow_client, fast_client):
                await client.aclose()
