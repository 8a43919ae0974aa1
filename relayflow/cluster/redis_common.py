"""What the Redis-backed parts of distributed mode share: key and channel names, client
construction with short timeouts, and the outage gate that keeps a Redis that is down or hanging
from slowing every call.

Names (all under one prefix, ``relayflow:`` by default, so a test takes its own):

- ``<prefix>ev:<channel>``: event bus channels (pub/sub);
- ``<prefix>cache:<key>``: L2 cache entries (``wf:<id>:<version>``, ``cred:<id>:meta``...);
- ``<prefix>rl:<key>:<window>`` and ``<prefix>rl:fail:<key>``: rate-limit counters and login
  failure locks.

Redis never holds the only copy of anything, so every caller degrades instead of raising when
it is unreachable; ``Outage`` decides when to try Redis again (exponential backoff), logs once per
outage (and once when it ends) and counts what was dropped meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis
    import redis.asyncio

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "relayflow:"
# a Redis on the same network answers in well under a millisecond: a call slower than this is an
# outage (hanging server, partition), not a slow answer
DEFAULT_TIMEOUT_S = 0.5


def channel_name(prefix: str, channel: str) -> str:
    return f"{prefix}ev:{channel}"


def cache_key(prefix: str, key: str) -> str:
    return f"{prefix}cache:{key}"


def ratelimit_key(prefix: str, key: str) -> str:
    return f"{prefix}rl:{key}"


def escape_glob(text: str) -> str:
    """``text`` matched literally inside a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a Redis that is down, hanging, restarting or refusing writes raises."""
    from redis.exceptions import RedisError

    # RedisError covers more than the network: LOADING after a restart, READONLY after a failover,
    # OOM and MISCONF refusals. All are the server's state, none is the caller's to handle.
    return (RedisError, TimeoutError, OSError)


def async_client(url: str = DEFAULT_URL, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.asyncio.Redis:
    """A ``redis.asyncio`` client that fails fast: short connect and read timeouts, no retries
    (the callers have their own backoff)."""
    from redis.asyncio import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )


def sync_client(url: str = DEFAULT_URL, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """The blocking twin of ``async_client`` (the rate limiter's interface is synchronous)."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )


class Outage:
    """The state of one Redis dependency as its user sees it.

    ``usable()`` says whether to try Redis now: always while it works; during an outage once per
    backoff step (``min_retry_s`` doubling up to ``max_retry_s``), so a hanging server costs one
    timeout per step rather than one per call. ``failed`` / ``succeeded`` report each attempt;
    ``dropped`` counts what was skipped or lost while down.
    """

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        *,
        min_retry_s: float = 0.5,
        max_retry_s: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.monotonic = monotonic
        self.log = log
        self.min_retry_s = min_retry_s
        self.max_retry_s = max_retry_s
        self.down = False
        self.dropped = 0
        self.outages = 0
        self._retry_s = min_retry_s
        self._retry_at = 0.0
        self._dropped_before = 0
        self._probing = False

    def usable(self) -> bool:
        if not self.down:
            return True
        now = self.monotonic()
        if now < self._retry_at:
            return False
        # this caller probes; the others keep skipping until it reports back
        self._retry_at = now + self._retry_s
        self._probing = True
        return True

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            self.outages += 1
            self._retry_s = self.min_retry_s
            self._dropped_before = self.dropped
            self.log.warning(
                "%s: Redis unavailable (%s); degrading until it is back",
                self.what,
                str(exc) or type(exc).__name__,
            )
            self._retry_at = self.monotonic() + self._retry_s
        elif self._probing:
            # a failed probe backs off further; calls that were already under way when the
            # outage began do not (a burst of them would jump straight to the ceiling)
            self._probing = False
            self._retry_s = min(self.max_retry_s, self._retry_s * 2)
            self._retry_at = self.monotonic() + self._retry_s

    def succeeded(self) -> None:
        self._probing = False
        if self.down:
            self.down = False
            self.log.warning(
                "%s: Redis is back (%d dropped during the outage)",
                self.what,
                self.dropped - self._dropped_before,
            )
