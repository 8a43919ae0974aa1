"""The read-through cache of workflow definitions and credential metadata.

``LruCache`` is L1: in process, bounded (least recently used goes first), each entry with a TTL.
It is the whole cache in the embedded mode.

``TieredCache`` puts Redis behind it as L2, shared by every process: ``get`` reads L1, then L2
(orjson), then reports a miss (the caller reads the store and ``set``s); ``set`` writes both;
``invalidate`` drops L1, deletes the L2 entry and publishes ``cache.invalidate`` on the event bus
so every other process drops its L1 copy.

Keys name immutable content where they can: ``wf:<id>:<version>`` for a workflow definition
(a new version is a new key, so a stale copy is never read), ``cred:<id>:meta`` for credential
metadata (never the secret data). Values are JSON values (``None`` means "miss", so it is never
cached); treat what ``get`` returns as read-only, L1 hands out the object it holds.

Redis never holds the only copy: when it is down or hanging, reads fall back to L1 or miss and
writes go to L1 only, nothing raises, and Redis is retried with backoff (``redis_common.Outage``).
Staleness stays bounded: L1 entries expire (``ttl_s`` of the L1, a minute by default); L2 entries
always carry a TTL; an invalidation that could not reach Redis is retried once it is back; and
when the bus reports it reconnected (it may have missed invalidations) L1 is cleared. A read
that raced an invalidation does not fill L1.

The invalidation itself is retried until it reached both Redis and the bus: a key whose L2
delete failed, or whose broadcast the bus dropped, stays pending and is deleted and announced
again before the next L2 command.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from relayflow.cluster.ports import EventBus, Subscription
from relayflow.cluster.redis_common import DEFAULT_PREFIX, DEFAULT_TIMEOUT_S, Outage, cache_key, redis_errors
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("relayflow.cluster")

INVALIDATE_CHANNEL = "cache.invalidate"


class LruCache:
    """Bounded, per-entry TTL, in process. Sync ``peek``/``put``/``drop`` for callers that cannot
    await, and the async ``Cache`` protocol on top."""

    def __init__(
        self, max_entries: int = 10_000, *, ttl_s: float | None = 60.0, clock: Clock | None = None
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock or SystemClock()
        # key -> (value, monotonic expiry or None)
        self._entries: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: str) -> Any | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        value, expires = hit
        if expires is not None and self.clock.monotonic() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        """Keep ``value`` for ``ttl_s`` (capped by the cache's own TTL)."""
        if value is None:
            self.drop(key)
            return
        ttls = [t for t in (ttl_s, self.ttl_s) if t is not None]
        expires = self.clock.monotonic() + min(ttls) if ttls else None
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    async def get(self, key: str) -> Any | None:
        return self.peek(key)

    async def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        self.put(key, value, ttl_s=ttl_s)

    async def invalidate(self, key: str) -> None:
        self.drop(key)


class TieredCache:
    """L1 in process, L2 in Redis, invalidation over the bus. ``redis`` is a ``redis.asyncio``
    client with short timeouts (``redis_common.async_client``); the caller owns and closes it and
    the bus."""

    def __init__(
        self,
        l1: LruCache,
        redis: Redis,
        bus: EventBus,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl_s: float = 600.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.l1 = l1
        self.redis = redis
        self.bus = bus
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.origin = uuid.uuid4().hex
        self.l2 = Outage("cache", log)
        self.hits_l1 = self.hits_l2 = self.misses = 0
        self._errors = redis_errors()
        self._subscription: Subscription | None = None
        self._start_lock = asyncio.Lock()
        # bumped by every invalidation: a read that saw it change does not fill L1
        self._epoch = 0
        self._bus_reconnects = self._reconnects()
        # keys whose L2 delete (and broadcast) failed, to retry once Redis is back
        self._pending: set[str] = set()

    @property
    def healthy(self) -> bool:
        return not self.l2.down and bool(getattr(self.bus, "healthy", True))

    async def start(self) -> None:
        """Listen for invalidations (also done by the first call of any method)."""
        async with self._start_lock:
            if self._subscription is None:
                self._subscription = await self.bus.subscribe(INVALIDATE_CHANNEL, self._on_invalidate)

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    # --- the Cache protocol ----------------------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        await self._prepare()
        value = self.l1.peek(key)
        if value is not None:
            self.hits_l1 += 1
            return value
        epoch = self._epoch
        found = await self._l2("GET", key)
        if not found or found[0] is None:
            self.misses += 1
            return None
        raw, pttl_ms = found
        value = orjson.loads(raw)
        self.hits_l2 += 1
        if epoch == self._epoch:
            # never outlive the L2 entry (the writer's TTL)
            self.l1.put(key, value, ttl_s=pttl_ms / 1000 if pttl_ms > 0 else self.ttl_s)
        return value

    async def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        data = orjson.dumps(value)
        await self._prepare()
        ttl = ttl_s or self.ttl_s
        self.l1.put(key, value, ttl_s=ttl)
        await self._l2("SET", key, data, ttl)

    async def invalidate(self, key: str) -> None:
        await self._prepare()
        self._epoch += 1
        self.l1.drop(key)
        deleted = await self._l2("DEL", key) is not False
        if not await self._announce(key) or not deleted:
            self._pending.add(key)

    # --- internals -----------------------------------------------------------------------------

    def _reconnects(self) -> int:
        return int(getattr(self.bus, "reconnects", 0))

    async def _prepare(self) -> None:
        if self._subscription is None:
            await self.start()
        reconnects = self._reconnects()
        if reconnects != self._bus_reconnects:
            # the bus was away: invalidations may have been missed
            self._bus_reconnects = reconnects
            self._epoch += 1
            self.l1.clear()

    async def _on_invalidate(self, channel: str, message: Mapping[str, Any]) -> None:
        key = message.get("key")
        if not isinstance(key, str) or message.get("origin") == self.origin:
            return
        self._epoch += 1
        self.l1.drop(key)

    async def _l2(self, op: str, key: str, data: bytes | None = None, ttl_s: float | None = None) -> Any:
        """One L2 command (GET answers ``[value, pttl_ms]``); ``False`` when Redis was skipped or
        failed (a GET then reads as a miss)."""
        if not self.l2.usable():
            self.l2.dropped += 1
            return False
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                if self._pending:
                    await self._flush_pending()
                name = cache_key(self.prefix, key)
                if op == "GET":
                    async with self.redis.pipeline(transaction=False) as pipe:
                        pipe.get(name)
                        pipe.pttl(name)
                        result: Any = await pipe.execute()
                elif op == "SET":
                    result = await self.redis.set(
                        name, data or b"", px=max(1, int((ttl_s or self.ttl_s) * 1000))
                    )
                else:
                    result = await self.redis.delete(name)
        except self._errors as exc:
            self.l2.dropped += 1
            self.l2.failed(exc)
            return False
        self.l2.succeeded()
        return result

    async def _announce(self, key: str) -> bool:
        """Publish the invalidation; False when the bus says it dropped it (a bus that counts
        ``dropped``, as ``RedisEventBus`` does; any other is trusted)."""
        before = getattr(self.bus, "dropped", None)
        await self.bus.publish(INVALIDATE_CHANNEL, {"key": key, "origin": self.origin})
        return before is None or getattr(self.bus, "dropped", None) == before

    async def _flush_pending(self) -> None:
        """The invalidations that could not reach Redis or the bus: delete, then tell the others;
        a key stays pending until both went through."""
        keys = sorted(self._pending)
        await self.redis.delete(*(cache_key(self.prefix, k) for k in keys))
        for key in keys:
            if await self._announce(key):
                self._pending.discard(key)
