"""Rate limits shared by every api process, in Redis.

``RedisRateLimits`` is a ``RateLimits`` (``relayflow/access/ratelimit.py``): same constructor
arguments first, same attributes and methods, same ``RateLimited`` errors, so the access service
takes either. Its parts subclass the in-process ones and use them as the fallback:

- ``RedisWindow`` (a ``TokenBuckets``): ``capacity`` per minute per key, counted by one Lua
  script (atomic): a sliding window (the current minute's count plus the previous one's,
  weighted by how much of it still overlaps; the default) or a fixed window. Time is Redis's
  (``TIME``), so processes with skewed clocks agree.
- ``RedisFailureBackoff`` (a ``FailureBackoff``): failed logins in a row per IP or e-mail and
  the lock they earn (1 s, 2, 4 ... up to ``max_lock_s``), in a hash that expires an hour after
  the lock ends; a success deletes it.

When Redis is down or hanging the in-process structures answer instead (logged once per outage,
retried with backoff): each process then enforces the budget on its own, so an outage neither
locks everyone out nor lifts the limits.

The interface is synchronous (the access service calls it without ``await``), so the Redis calls
block the event loop: one round trip (well under a millisecond on a local network), bounded by
``timeout_s``, and skipped entirely while the outage gate is closed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from relayflow.access.ratelimit import FailureBackoff, RateLimits, RateLimitSettings, TokenBuckets
from relayflow.cluster.redis_common import (
    DEFAULT_PREFIX,
    DEFAULT_URL,
    Outage,
    ratelimit_key,
    redis_errors,
    sync_client,
)
from relayflow.engine.ports import Clock
from relayflow.errors import RateLimited

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

log = logging.getLogger("relayflow.access")

Window = Literal["sliding", "fixed"]
WINDOW_MS = 60_000

# KEYS[1]: the key's base name; ARGV: limit, window (ms), "sliding" | "fixed".
# Returns {allowed (0/1), current window's count, previous window's count, ms into the window}.
TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local start = now - (now % window)
local elapsed = now - start
local cur_key = KEYS[1] .. ':' .. start
local cur = tonumber(redis.call('GET', cur_key) or '0')
local prev = 0
if ARGV[3] == 'sliding' then
  prev = tonumber(redis.call('GET', KEYS[1] .. ':' .. (start - window)) or '0')
end
if prev * (window - elapsed) / window + cur + 1 > limit then
  return {0, cur, prev, elapsed}
end
redis.call('INCR', cur_key)
redis.call('PEXPIRE', cur_key, window * 2)
return {1, cur + 1, prev, elapsed}
"""

# KEYS[1]: the failure hash; ARGV: free failures, max lock (ms). Returns the failures in a row.
FAILED_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
local over = count - tonumber(ARGV[1])
local lock = 0
if over > 0 then
  lock = math.floor(math.min(tonumber(ARGV[2]), 1000 * 2 ^ math.min(over - 1, 60)))
end
redis.call('HSET', KEYS[1], 'until', now + lock)
redis.call('PEXPIRE', KEYS[1], lock + 3600000)
return count
"""

# KEYS[1]: the failure hash. Returns the ms left of its lock (<= 0: not locked).
CHECK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lock_end = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
return lock_end - now
"""


def retry_after_s(limit: int, cur: int, prev: int, elapsed_ms: int, window: Window) -> float:
    """How long until the window lets one more through (no other traffic assumed)."""
    w = float(WINDOW_MS)
    left_ms = w - elapsed_ms
    if window == "fixed":
        return max(left_ms, 1.0) / 1000
    room = limit - 1 - cur
    if prev > 0 and room >= 0:
        # the previous minute's weight shrinks until the estimate fits
        return max(left_ms - room * w / prev, 1.0) / 1000
    # only once this minute has become the previous one and has shrunk enough
    shrink_ms = w * (1 - (limit - 1) / cur) if cur > 0 else 0.0
    return (left_ms + max(shrink_ms, 0.0)) / 1000


class RedisScripts:
    """The Redis side shared by the parts of one ``RedisRateLimits``: client, scripts, outage."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.errors = redis_errors()
        self.outage = Outage("rate limits", log, max_retry_s=30.0)
        self.take: Script = client.register_script(TAKE_LUA)
        self.failed: Script = client.register_script(FAILED_LUA)
        self.check: Script = client.register_script(CHECK_LUA)

    def key(self, kind: str, key: str) -> str:
        # a hash tag, so the derived window keys share a slot on a Redis cluster
        return ratelimit_key(self.prefix, f"{kind}:{{{key}}}")

    def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """The script's result, or None when Redis is skipped or failed (then: fall back)."""
        if not self.outage.usable():
            self.outage.dropped += 1
            return None
        try:
            result = script(keys=keys, args=args)
        except self.errors as exc:
            self.outage.dropped += 1
            self.outage.failed(exc)
            return None
        self.outage.succeeded()
        return result

    def delete(self, name: str) -> bool:
        if not self.outage.usable():
            return False
        try:
            self.client.delete(name)
        except self.errors as exc:
            self.outage.failed(exc)
            return False
        self.outage.succeeded()
        return True


class RedisWindow(TokenBuckets):
    def __init__(
        self, red: RedisScripts, kind: str, capacity: int, clock: Clock, *, what: str, window: Window
    ) -> None:
        super().__init__(capacity, clock, what=what)
        self.red = red
        self.kind = kind
        self.limit = capacity
        self.window = window

    def take(self, key: str) -> None:
        result = self.red.call(
            self.red.take, [self.red.key(self.kind, key)], [self.limit, WINDOW_MS, self.window]
        )
        if result is None:
            super().take(key)
            return
        allowed, cur, prev, elapsed = (int(v) for v in result)
        if not allowed:
            raise RateLimited(
                f"too many {self.what}: at most {self.limit} a minute",
                retry_after_s=retry_after_s(self.limit, cur, prev, elapsed, self.window),
            )


class RedisFailureBackoff(FailureBackoff):
    def __init__(self, red: RedisScripts, clock: Clock, *, free_failures: int, max_lock_s: float) -> None:
        super().__init__(clock, free_failures=free_failures, max_lock_s=max_lock_s)
        self.red = red

    def check(self, key: str) -> None:
        left_ms = self.red.call(self.red.check, [self.red.key("fail", key)], [])
        if left_ms is None:
            super().check(key)
        elif int(left_ms) > 0:
            raise RateLimited("too many failed logins: try again later", retry_after_s=int(left_ms) / 1000)

    def failed(self, key: str) -> None:
        args = [self.free_failures, int(self.max_lock_s * 1000)]
        if self.red.call(self.red.failed, [self.red.key("fail", key)], args) is None:
            super().failed(key)

    def succeeded(self, key: str) -> None:
        super().succeeded(key)
        self.red.delete(self.red.key("fail", key))


class RedisRateLimits(RateLimits):
    """``RateLimits`` with its budgets and locks in Redis (the in-process ones as fallback)."""

    def __init__(
        self,
        settings: RateLimitSettings | None = None,
        clock: Clock | None = None,
        *,
        url: str = DEFAULT_URL,
        prefix: str = DEFAULT_PREFIX,
        window: Window = "sliding",
        timeout_s: float = 0.25,
        client: Redis | None = None,
    ) -> None:
        super().__init__(settings, clock)
        if window not in ("sliding", "fixed"):
            raise ValueError(f"window must be 'sliding' or 'fixed', not {window!r}")
        self._owns_client = client is None
        self.red = RedisScripts(
            client if client is not None else sync_client(url, timeout_s=timeout_s), prefix
        )
        clock = self.requests.clock
        s = self.settings
        self.requests = RedisWindow(self.red, "req", s.per_minute, clock, what="requests", window=window)
        self.logins = RedisWindow(
            self.red, "login", s.login_per_minute, clock, what="login attempts", window=window
        )
        self.failures = RedisFailureBackoff(
            self.red, clock, free_failures=s.free_failures, max_lock_s=s.max_lock_s
        )

    @property
    def healthy(self) -> bool:
        return not self.red.outage.down

    def close(self) -> None:
        if self._owns_client:
            self.red.client.close()
