"""Token buckets and the failed-login backoff, on a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from relayflow.access.ratelimit import FailureBackoff, RateLimits, RateLimitSettings, TokenBuckets
from relayflow.engine.memory import FakeClock
from relayflow.errors import InputInvalid, RateLimited


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(60, clock)  # one a second
    for _ in range(60):
        buckets.take("a")
    with pytest.raises(RateLimited) as caught:
        buckets.take("a")
    assert 0 < caught.value.retry_after_s <= 1.0
    buckets.take("b")  # another key has its own bucket
    clock.advance(1.0)
    buckets.take("a")
    with pytest.raises(RateLimited):
        buckets.take("a")
    clock.advance(3600)
    for _ in range(60):  # refills to the capacity, no further
        buckets.take("a")
    with pytest.raises(RateLimited):
        buckets.take("a")


def test_refused_requests_do_not_spend_tokens() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(1, clock)  # one a minute
    buckets.take("a")
    for _ in range(5):
        with pytest.raises(RateLimited) as caught:
            buckets.take("a")
    assert caught.value.retry_after_s == pytest.approx(60.0)
    clock.advance(60.0)
    buckets.take("a")


def test_backoff_doubles_after_the_free_failures_and_is_capped() -> None:
    clock = FakeClock()
    backoff = FailureBackoff(clock, free_failures=3, max_lock_s=10.0)
    for _ in range(3):
        backoff.check("k")
        backoff.failed("k")
    backoff.check("k")  # three failures are free
    locks = []
    for _ in range(6):
        backoff.failed("k")
        with pytest.raises(RateLimited) as caught:
            backoff.check("k")
        locks.append(caught.value.retry_after_s)
        clock.advance(caught.value.retry_after_s)
        backoff.check("k")
    assert locks == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_success_resets_the_backoff() -> None:
    clock = FakeClock()
    backoff = FailureBackoff(clock, free_failures=1)
    backoff.failed("k")
    backoff.failed("k")
    with pytest.raises(RateLimited):
        backoff.check("k")
    backoff.succeeded("k")
    backoff.check("k")
    backoff.failed("k")
    backoff.check("k")


def test_login_limits_per_ip_and_per_email() -> None:
    clock = FakeClock()
    limits = RateLimits(RateLimitSettings(login_per_minute=100, free_failures=2), clock)
    for _ in range(3):
        limits.login_attempt("10.0.0.1", "a@example.com")
        limits.login_failed("10.0.0.1", "a@example.com")
    # the e-mail is locked from any IP, and the IP for any e-mail
    with pytest.raises(RateLimited):
        limits.login_attempt("10.0.0.2", "a@example.com")
    with pytest.raises(RateLimited):
        limits.login_attempt("10.0.0.1", "b@example.com")
    limits.login_attempt("10.0.0.2", "b@example.com")
    clock.advance(1.0)
    limits.login_attempt("10.0.0.1", "a@example.com")
    limits.login_succeeded("10.0.0.1", "a@example.com")
    limits.login_failed("10.0.0.1", "a@example.com")
    limits.login_attempt("10.0.0.1", "a@example.com")


def test_login_attempts_per_minute_per_ip() -> None:
    clock = FakeClock()
    limits = RateLimits(RateLimitSettings(login_per_minute=3), clock)
    for _ in range(3):
        limits.login_attempt("10.0.0.1", "a@example.com")
        limits.login_succeeded("10.0.0.1", "a@example.com")
    with pytest.raises(RateLimited) as caught:
        limits.login_attempt("10.0.0.1", "a@example.com")
    assert caught.value.retry_after_s == pytest.approx(20.0)
    limits.login_attempt("10.0.0.9", "a@example.com")


def test_settings_from_env() -> None:
    assert RateLimitSettings.from_env({}) == RateLimitSettings()
    env = {"RELAYFLOW_RATE_LIMIT_PER_MINUTE": "5", "RELAYFLOW_LOGIN_ATTEMPTS_PER_MINUTE": "2"}
    settings = RateLimitSettings.from_env(env)
    assert (settings.per_minute, settings.login_per_minute) == (5, 2)
    with pytest.raises(InputInvalid, match="RELAYFLOW_RATE_LIMIT_PER_MINUTE"):
        RateLimitSettings.from_env({"RELAYFLOW_RATE_LIMIT_PER_MINUTE": "0"})
    with pytest.raises(InputInvalid, match="RELAYFLOW_LOGIN_ATTEMPTS_PER_MINUTE"):
        RateLimitSettings.from_env({"RELAYFLOW_LOGIN_ATTEMPTS_PER_MINUTE": "many"})
