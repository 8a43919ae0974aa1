"""The outage gate the Redis users share: one probe per backoff step, one log line per outage."""

from __future__ import annotations

import logging

import pytest

from relayflow.cluster.redis_common import Outage, escape_glob


class Now:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_one_probe_per_backoff_step_doubling_to_the_ceiling(caplog: pytest.LogCaptureFixture) -> None:
    now = Now()
    gate = Outage("cache", logging.getLogger("test.outage"), min_retry_s=1, max_retry_s=4, monotonic=now)
    assert gate.usable() and not gate.down
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        gate.failed(ConnectionError("refused"))
        gate.failed(ConnectionError("refused"))  # a call already under way: no further backoff
        assert gate.down and not gate.usable()
        waits = []
        for _ in range(4):
            start = now.t
            while not gate.usable():
                now.t += 0.25
            waits.append(now.t - start)
            assert not gate.usable()  # the probe is under way: the others keep skipping
            gate.failed(TimeoutError())
        assert waits == [1.0, 2.0, 4.0, 4.0]
        gate.dropped += 3
        now.t += 4
        assert gate.usable()
        gate.succeeded()
        assert not gate.down and gate.usable() and gate.outages == 1
        gate.failed(OSError())
        assert gate.outages == 2
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "cache: Redis unavailable (refused)" in messages[0]
    assert "back (3 dropped" in messages[1]
    assert "(OSError)" in messages[2]


def test_escape_glob() -> None:
    assert escape_glob("rf:t[1]*?\\x") == "rf:t\\[1\\]\\*\\?\\\\x"
