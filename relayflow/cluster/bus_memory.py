"""The in-process event bus: the embedded mode's ``EventBus`` and the unit tests' fake.

Buses built on the same ``MemoryHub`` see each other's messages, the way two processes sharing a
Redis do; a bus without a hub gets its own. Delivery is inline: ``publish`` returns once every
matching handler ran (a handler that raises is logged and does not stop the others). Messages are
round-tripped through JSON, as on Redis, so a handler never shares the publisher's objects and a
message that Redis could not carry fails here too.

Patterns are globs (``*``, ``?``, ``[abc]``) matched against the whole channel name, like Redis
``PSUBSCRIBE``; a channel that matches several subscribed patterns is delivered once per pattern.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import orjson

from relayflow.cluster.ports import Handler

log = logging.getLogger("relayflow.cluster")


@dataclass(eq=False)
class _Sub:
    pattern: str
    handler: Handler
    bus: MemoryEventBus


@dataclass
class MemoryHub:
    """What several in-process buses share (the stand-in for one Redis)."""

    subs: list[_Sub] = field(default_factory=list)


class MemorySubscription:
    def __init__(self, sub: _Sub, hub: MemoryHub) -> None:
        self._sub = sub
        self._hub = hub

    async def close(self) -> None:
        if self._sub in self._hub.subs:
            self._hub.subs.remove(self._sub)


async def deliver(handler: Handler, channel: str, message: Mapping[str, Any]) -> None:
    """Run one handler, logging (not raising) what it raises."""
    try:
        result = handler(channel, message)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("event bus: a handler of %r failed", channel)


class MemoryEventBus:
    def __init__(self, hub: MemoryHub | None = None) -> None:
        self.hub = hub or MemoryHub()
        self.closed = False
        self.published = 0

    @property
    def healthy(self) -> bool:
        return True

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        data = orjson.dumps(message)
        if self.closed:
            return
        self.published += 1
        for sub in list(self.hub.subs):
            if not sub.bus.closed and fnmatchcase(channel, sub.pattern):
                await deliver(sub.handler, channel, orjson.loads(data))

    async def subscribe(self, pattern: str, handler: Handler) -> MemorySubscription:
        if self.closed:
            raise RuntimeError("the event bus is closed")
        sub = _Sub(pattern, handler, self)
        self.hub.subs.append(sub)
        return MemorySubscription(sub, self.hub)

    async def close(self) -> None:
        self.closed = True
        self.hub.subs[:] = [s for s in self.hub.subs if s.bus is not self]
