"""The event bus over Redis pub/sub, for distributed mode.

- Channels live under ``<prefix>ev:`` (see ``redis_common``); every subscription is a
  ``PSUBSCRIBE`` (a plain name is a glob without wildcards), messages are orjson.
- One background reader per bus holds the pub/sub connection and runs the handlers inline, in
  the order messages arrive (a handler that raises is logged; a slow one delays the others, so
  handlers hand work off rather than doing it). It PINGs an idle connection, so a hanging Redis
  is noticed within ``ping_interval_s + timeout_s``, and it reconnects with exponential backoff,
  subscribing again to every pattern. Messages published while it was away are lost: the bus is
  best effort and at most once; a subscriber that may have missed something reads the store.
- ``publish`` never raises because Redis is down or slow: the message is dropped, counted in
  ``dropped``, and the outage is logged once (see ``redis_common.Outage``). A message that is not
  JSON is a bug and raises ``TypeError`` as on the memory bus.
- ``healthy`` is False while either direction is failing: readiness reports degraded.
  ``reconnects`` counts recoveries of the reader, so a cache can drop its L1 after an outage in
  which it may have missed invalidations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from relayflow.cluster.bus_memory import deliver
from relayflow.cluster.ports import Handler
from relayflow.cluster.redis_common import (
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT_S,
    DEFAULT_URL,
    Outage,
    async_client,
    channel_name,
    escape_glob,
    redis_errors,
)

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

log = logging.getLogger("relayflow.cluster")


class RedisSubscription:
    def __init__(self, bus: RedisEventBus, pattern: str, handler: Handler) -> None:
        self.bus = bus
        self.pattern = pattern
        self.handler = handler

    async def close(self) -> None:
        await self.bus._unsubscribe(self)


class RedisEventBus:
    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ping_interval_s: float = 5.0,
        max_backoff_s: float = 15.0,
    ) -> None:
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.ping_interval_s = ping_interval_s
        self.max_backoff_s = max_backoff_s
        self.client = async_client(url, timeout_s=timeout_s)
        self.publishing = Outage("event bus publish", log, max_retry_s=max_backoff_s)
        self.reconnects = 0
        self._errors = redis_errors()
        self._channel_prefix = channel_name(prefix, "")
        self._pattern_prefix = escape_glob(self._channel_prefix)
        # user pattern -> its subscriptions, in subscription order
        self._subs: dict[str, list[RedisSubscription]] = {}
        self._confirmed: set[str] = set()  # Redis patterns the current connection confirmed
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._wanted = asyncio.Event()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reader_down = False
        self._closed = False

    # --- state -------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return not self.publishing.down and not self._reader_down

    @property
    def dropped(self) -> int:
        return self.publishing.dropped

    async def ping(self) -> bool:
        """Ask Redis now (for a readiness probe); updates the publish side's state."""
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                await self.client.ping()
        except self._errors as exc:
            self.publishing.failed(exc)
            return False
        self.publishing.succeeded()
        return not self._reader_down

    # --- publishing --------------------------------------------------------------------------

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        data = orjson.dumps(message)
        if self._closed:
            return
        if not self.publishing.usable():
            self.publishing.dropped += 1
            return
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                await self.client.publish(self._channel_prefix + channel, data)
        except self._errors as exc:
            self.publishing.dropped += 1
            self.publishing.failed(exc)
            return
        self.publishing.succeeded()

    # --- subscribing -------------------------------------------------------------------------

    def _redis_pattern(self, pattern: str) -> str:
        return self._pattern_prefix + pattern

    async def subscribe(self, pattern: str, handler: Handler) -> RedisSubscription:
        """Active once Redis confirmed it (or after ``timeout_s`` when Redis is away: the reader
        subscribes again when it reconnects)."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        sub = RedisSubscription(self, pattern, handler)
        self._subs.setdefault(pattern, []).append(sub)
        self._wanted.set()
        if self._reader is None:
            self._reader = asyncio.create_task(self._run(), name="relayflow-event-bus-reader")
        redis_pattern = self._redis_pattern(pattern)
        if redis_pattern in self._confirmed:
            return sub
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(redis_pattern, []).append(waiter)
        pubsub = self._pubsub
        if pubsub is not None and pubsub.connection is not None:
            # the reader is connected: ask on its connection (a failure is the reader's to see)
            with contextlib.suppress(*self._errors):
                async with asyncio.timeout(self.timeout_s):
                    await pubsub.psubscribe(redis_pattern)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout_s * 2):
                await asyncio.shield(waiter)
        return sub

    async def _unsubscribe(self, sub: RedisSubscription) -> None:
        subs = self._subs.get(sub.pattern, [])
        if sub in subs:
            subs.remove(sub)
        if subs:
            return
        self._subs.pop(sub.pattern, None)
        if not self._subs:
            self._wanted.clear()
        redis_pattern = self._redis_pattern(sub.pattern)
        self._confirmed.discard(redis_pattern)
        pubsub = self._pubsub
        if pubsub is not None and pubsub.connection is not None and not self._closed:
            with contextlib.suppress(*self._errors):
                async with asyncio.timeout(self.timeout_s):
                    await pubsub.punsubscribe(redis_pattern)

    # --- the reader --------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff_s = 0.1
        while not self._closed:
            await self._wanted.wait()
            pubsub = self.client.pubsub()
            self._pubsub = pubsub
            try:
                await self._listen(pubsub)
            except Exception as exc:  # the reader must outlive anything: it is the bus
                if self._closed:
                    return
                if not isinstance(exc, self._errors):
                    log.exception("event bus: the reader failed; reconnecting")
                if not self._reader_down:
                    self._reader_down = True
                    log.warning("event bus: lost the Redis subscription (%s); reconnecting", exc)
            finally:
                self._pubsub = None
                self._confirmed.clear()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.timeout_s):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            if self._closed:
                return
            await asyncio.sleep(backoff_s)
            # doubled each failed attempt, reset by a connection that confirmed its subscriptions
            backoff_s = 0.1 if not self._reader_down else min(self.max_backoff_s, backoff_s * 2)

    async def _listen(self, pubsub: PubSub) -> None:
        patterns = [self._redis_pattern(p) for p in self._subs]
        if not patterns:
            return  # every subscription closed meanwhile: back to waiting for one
        async with asyncio.timeout(self.timeout_s * 2):
            await pubsub.psubscribe(*patterns)
        last_seen = time.monotonic()
        ping_sent: float | None = None
        poll_s = min(1.0, self.ping_interval_s)
        while not self._closed:
            message = await pubsub.get_message(timeout=poll_s)
            now = time.monotonic()
            if message is None:
                if ping_sent is not None and now - ping_sent > self.timeout_s:
                    raise TimeoutError("Redis did not answer PING on the pub/sub connection")
                if ping_sent is None and now - last_seen >= self.ping_interval_s:
                    await pubsub.ping()
                    ping_sent = now
                continue
            last_seen, ping_sent = now, None
            await self._handle(message)

    async def _handle(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "psubscribe":
            self._confirm(_text(message.get("channel")))
        elif kind == "pmessage":
            await self._dispatch(message)

    def _confirm(self, redis_pattern: str) -> None:
        self._confirmed.add(redis_pattern)
        for waiter in self._waiters.pop(redis_pattern, []):
            if not waiter.done():
                waiter.set_result(None)
        if self._reader_down and all(self._redis_pattern(p) in self._confirmed for p in self._subs):
            self._reader_down = False
            self.reconnects += 1
            log.warning("event bus: Redis subscription restored")

    async def _dispatch(self, message: Mapping[str, Any]) -> None:
        pattern = _text(message.get("pattern"))[len(self._pattern_prefix) :]
        channel = _text(message.get("channel"))[len(self._channel_prefix) :]
        subs = self._subs.get(pattern)
        if not subs:
            return
        data = message.get("data") or b""
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            log.warning("event bus: a message on %r is not a JSON object; ignored", channel)
            return
        for i, sub in enumerate(list(subs)):
            # each handler gets its own copy, as on the memory bus
            await deliver(sub.handler, channel, body if i == 0 else orjson.loads(data))

    # --- closing -----------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wanted.set()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        self._waiters.clear()
        self._subs.clear()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout_s):
                await self.client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
