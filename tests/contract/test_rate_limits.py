"""The rate limits contract on the in-process ``RateLimits`` and on ``RedisRateLimits`` (real
Redis, this test's prefix), then what only the Redis one does: several processes share one
budget, and an unreachable Redis falls back to the in-process limits without raising."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from relayflow.access.ratelimit import RateLimits, RateLimitSettings
from relayflow.cluster.ratelimit_redis import RedisRateLimits, Window, retry_after_s
from relayflow.engine.memory import FakeClock
from relayflow.errors import RateLimited
from tests.contract.redis_support import closed_port, delete_prefix, new_prefix, require_redis, run

SETTINGS = RateLimitSettings(per_minute=5, login_per_minute=4, free_failures=2, max_lock_s=900)
MakeLimits = Callable[..., RateLimits]


@pytest.fixture
def make_redis_limits() -> Iterator[MakeLimits]:
    """Each call: one more api process on this test's prefix."""
    made: list[RedisRateLimits] = []
    prefix = new_prefix()

    def make(settings: RateLimitSettings = SETTINGS, window: Window = "sliding") -> RateLimits:
        url = require_redis()
        made.append(RedisRateLimits(settings, FakeClock(), url=url, prefix=prefix, window=window))
        return made[-1]

    yield make
    for limits in made:
        limits.close()
    if made:
        run(delete_prefix(prefix))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def limits(request: pytest.FixtureRequest, make_redis_limits: MakeLimits) -> RateLimits:
    if request.param == "memory":
        return RateLimits(SETTINGS, FakeClock())
    return make_redis_limits()


def test_requests_within_the_budget_pass_then_429_with_retry_after(limits: RateLimits) -> None:
    for _ in range(5):
        limits.request("key:k1")
    with pytest.raises(RateLimited, match="at most 5 a minute") as err:
        limits.request("key:k1")
    # a token bucket frees one in 60/5 s; a sliding window that filled early in a minute may need
    # the rest of it and part of the next (see test_retry_after_of_the_sliding_window)
    assert 0 < err.value.retry_after_s <= 120
    limits.request("key:k2")  # another caller has its own budget


def test_login_attempts_per_ip(limits: RateLimits) -> None:
    for i in range(4):
        limits.login_attempt("10.0.0.1", f"user{i}@example.com")
    with pytest.raises(RateLimited, match="login attempts"):
        limits.login_attempt("10.0.0.1", "other@example.com")
    limits.login_attempt("10.0.0.2", "user0@example.com")


def test_failed_logins_lock_the_email_and_a_success_clears_it(limits: RateLimits) -> None:
    for _ in range(2):  # free failures
        limits.login_failed(None, "a@example.com")
    limits.login_attempt(None, "a@example.com")
    limits.login_failed(None, "a@example.com")  # the third: locked for a second
    with pytest.raises(RateLimited, match="failed logins") as err:
        limits.login_attempt(None, "a@example.com")
    assert 0 < err.value.retry_after_s <= 1
    limits.login_attempt(None, "b@example.com")  # others are not locked
    limits.login_succeeded(None, "a@example.com")
    limits.login_attempt(None, "a@example.com")


# --- Redis only -------------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.parametrize("window", ["sliding", "fixed"])
def test_two_processes_share_one_budget(make_redis_limits: MakeLimits, window: Window) -> None:
    api_1, api_2 = make_redis_limits(window=window), make_redis_limits(window=window)
    for i in range(5):
        (api_1 if i % 2 else api_2).request("key:shared")
    for api in (api_1, api_2):
        with pytest.raises(RateLimited):
            api.request("key:shared")


@pytest.mark.services
def test_a_failed_login_lock_is_seen_by_every_process(make_redis_limits: MakeLimits) -> None:
    api_1, api_2 = make_redis_limits(), make_redis_limits()
    for api in (api_1, api_2, api_1):
        api.login_failed("10.9.9.9", "x@example.com")
    with pytest.raises(RateLimited):
        api_2.login_attempt("10.9.9.9", "y@example.com")  # the IP is locked
    api_1.login_succeeded("10.9.9.9", "x@example.com")
    api_2.login_attempt("10.9.9.9", "x@example.com")


@pytest.mark.services
def test_redis_time_not_the_fake_clock_moves_the_window(make_redis_limits: MakeLimits) -> None:
    limits = make_redis_limits()
    for _ in range(5):
        limits.request("key:t")
    assert isinstance(limits.requests.clock, FakeClock)
    limits.requests.clock.advance(3600)  # only the in-process fallback reads this clock
    with pytest.raises(RateLimited):
        limits.request("key:t")


def test_an_unreachable_redis_falls_back_to_the_in_process_limits() -> None:
    limits = RedisRateLimits(SETTINGS, FakeClock(), url=f"redis://127.0.0.1:{closed_port()}/0")
    try:
        started = time.monotonic()
        for _ in range(5):
            limits.request("key:k")  # no exception: the local budget answers
        with pytest.raises(RateLimited):
            limits.request("key:k")  # and it is still a limit
        limits.login_failed(None, "a@example.com")
        limits.login_attempt(None, "a@example.com")
        limits.login_succeeded(None, "a@example.com")
        assert time.monotonic() - started < 2
        assert not limits.healthy
        assert limits.red.outage.outages == 1  # one outage, logged once
    finally:
        limits.close()


def test_retry_after_of_the_sliding_window() -> None:
    # 5 a minute, nothing in the previous minute, 5 in this one, 10 s into it: wait for the roll
    # (50 s) and then until the 5 weigh less than 4 (12 s)
    assert retry_after_s(5, 5, 0, 10_000, "sliding") == pytest.approx(62.0)
    # 3 now, 4 before, 30 s in: the previous minute's weight must fall from 2 to 1: 15 s
    assert retry_after_s(5, 3, 4, 30_000, "sliding") == pytest.approx(15.0)
    assert retry_after_s(5, 5, 0, 10_000, "fixed") == pytest.approx(50.0)
