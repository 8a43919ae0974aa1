"""Request rate limits, in memory in one process (a Redis-backed limiter comes with the
distributed setup).

- ``TokenBuckets``: per caller (API key or user), ``RELAYFLOW_RATE_LIMIT_PER_MINUTE`` requests a
  minute, with bursts up to the same number; per client IP on login,
  ``RELAYFLOW_LOGIN_ATTEMPTS_PER_MINUTE``.
- ``FailureBackoff``: after ``free_failures`` failed logins in a row from one IP or for one e-mail,
  that IP or e-mail is locked for 1 s, then 2, 4 ... up to 15 minutes; a success clears it.

Time comes from a ``Clock`` (its ``monotonic``), so tests move a fake clock instead of sleeping.
Both structures forget idle entries once they grow large, so a flood of distinct keys costs
bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import RateLimited
from relayflow.settings import env_int

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class RateLimitSettings:
    per_minute: int = 600
    login_per_minute: int = 10
    # failed logins in a row before the backoff starts, and its ceiling
    free_failures: int = 5
    max_lock_s: float = 15 * 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RateLimitSettings:
        env = os.environ if env is None else env
        return cls(
            per_minute=env_int(env, "RELAYFLOW_RATE_LIMIT_PER_MINUTE", cls.per_minute),
            login_per_minute=env_int(env, "RELAYFLOW_LOGIN_ATTEMPTS_PER_MINUTE", cls.login_per_minute),
        )


class TokenBuckets:
    """One token bucket per key: ``capacity`` tokens, refilled at ``capacity`` per minute."""

    def __init__(self, capacity: int, clock: Clock, *, what: str = "requests") -> None:
        self.capacity = float(capacity)
        self.rate_per_s = capacity / 60.0
        self.clock = clock
        self.what = what
        # key -> (tokens left, monotonic time of that count)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise RateLimited with the wait for the next."""
        now = self.clock.monotonic()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            retry_after_s = (1.0 - tokens) / self.rate_per_s
            raise RateLimited(
                f"too many {self.what}: at most {int(self.capacity)} a minute", retry_after_s=retry_after_s
            )
        if len(self._buckets) >= MAX_ENTRIES and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled: they are the same as absent ones."""
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate_per_s >= self.capacity:
                del self._buckets[key]


class FailureBackoff:
    """Consecutive failures per key, and the lock they earn."""

    def __init__(self, clock: Clock, *, free_failures: int = 5, max_lock_s: float = 900.0) -> None:
        self.clock = clock
        self.free_failures = free_failures
        self.max_lock_s = max_lock_s
        # key -> (failures in a row, monotonic time the lock ends)
        self._failures: dict[str, tuple[int, float]] = {}

    def check(self, key: str) -> None:
        """RateLimited while ``key`` is locked."""
        hit = self._failures.get(key)
        if hit is None:
            return
        left = hit[1] - self.clock.monotonic()
        if left > 0:
            raise RateLimited("too many failed logins: try again later", retry_after_s=left)

    def failed(self, key: str) -> None:
        now = self.clock.monotonic()
        if len(self._failures) >= MAX_ENTRIES and key not in self._failures:
            self._prune(now)
        count = self._failures.get(key, (0, 0.0))[0] + 1
        over = count - self.free_failures
        lock_s = min(self.max_lock_s, 2.0 ** (over - 1)) if over > 0 else 0.0
        self._failures[key] = (count, now + lock_s)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        """Forget keys whose lock ended long ago (a quiet hour resets them)."""
        for key, (_, until) in list(self._failures.items()):
            if until + 3600 < now:
                del self._failures[key]


class RateLimits:
    """The limits the API applies: per caller, per login IP, and the failed-login backoff."""

    def __init__(self, settings: RateLimitSettings | None = None, clock: Clock | None = None) -> None:
        self.settings = settings or RateLimitSettings.from_env()
        clock = clock or SystemClock()
        self.requests = TokenBuckets(self.settings.per_minute, clock)
        self.logins = TokenBuckets(self.settings.login_per_minute, clock, what="login attempts")
        self.failures = FailureBackoff(
            clock, free_failures=self.settings.free_failures, max_lock_s=self.settings.max_lock_s
        )

    def request(self, caller: str) -> None:
        self.requests.take(caller)

    def login_attempt(self, ip: str | None, email: str) -> None:
        """Before checking a password: the IP's attempt budget, then the locks."""
        if ip is not None:
            self.logins.take(f"ip:{ip}")
            self.failures.check(f"ip:{ip}")
        self.failures.check(f"email:{email}")

    def login_failed(self, ip: str | None, email: str) -> None:
        if ip is not None:
            self.failures.failed(f"ip:{ip}")
        self.failures.failed(f"email:{email}")

    def login_succeeded(self, ip: str | None, email: str) -> None:
        if ip is not None:
            self.failures.succeeded(f"ip:{ip}")
        self.failures.succeeded(f"email:{email}")
