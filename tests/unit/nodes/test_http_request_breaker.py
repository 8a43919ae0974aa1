"""The per-host circuit breaker of the shared HTTP session (relayflow/http_session.py) and its
metrics: pure logic on a hand-moved clock."""

from __future__ import annotations

import pytest

from relayflow.errors import InputInvalid
from relayflow.http_session import CLOSED, HALF_OPEN, OPEN, CircuitBreakers, CircuitOpen, SharedSession
from relayflow.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(failures: int = 3, open_s: float = 30) -> tuple[CircuitBreakers, Clock]:
    clock = Clock()
    return CircuitBreakers(failures, open_s, clock=clock), clock


def test_opens_after_n_consecutive_failures() -> None:
    b, _ = board()
    for _ in range(2):
        b.before("api.example")
        b.failure("api.example")
    b.success("api.example")  # a success in between starts the count again
    for _ in range(2):
        b.failure("api.example")
    assert b.state("api.example") == CLOSED
    b.failure("api.example")
    assert b.state("api.example") == OPEN
    with pytest.raises(CircuitOpen, match=r"^circuit open for host api\.example, retry after 30 s") as info:
        b.before("api.example")
    assert info.value.code == "circuit_open" and info.value.retryable
    b.before("other.example")  # other hosts are not affected


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    b, clock = board(open_s=10)
    for _ in range(3):
        b.failure("h")
    clock.now += 4
    with pytest.raises(CircuitOpen, match="retry after 6 s"):
        b.before("h")
    clock.now += 6
    assert b.state("h") == HALF_OPEN
    b.before("h")  # the probe
    with pytest.raises(CircuitOpen):
        b.before("h")  # no second request while the probe is out
    b.success("h")
    assert b.state("h") == CLOSED
    b.before("h")


def test_a_failed_probe_opens_again() -> None:
    b, clock = board(open_s=10)
    for _ in range(3):
        b.failure("h")
    clock.now += 10
    b.before("h")
    b.failure("h")
    assert b.state("h") == OPEN
    assert list(b.snapshot()) == [("h", OPEN, 2)]
    clock.now += 10
    b.before("h")
    b.release("h")  # a cancelled probe frees the slot
    b.before("h")


def test_settings_come_from_the_environment() -> None:
    b = CircuitBreakers.from_env(
        {"RELAYFLOW_HTTP_BREAKER_FAILURES": "2", "RELAYFLOW_HTTP_BREAKER_OPEN_S": "1.5"}
    )
    assert (b.failures, b.open_s) == (2, 1.5)
    default = CircuitBreakers.from_env({})
    assert (default.failures, default.open_s) == (5, 30.0)
    with pytest.raises(InputInvalid, match="RELAYFLOW_HTTP_BREAKER_FAILURES must be a number"):
        CircuitBreakers.from_env({"RELAYFLOW_HTTP_BREAKER_FAILURES": "many"})
    with pytest.raises(InputInvalid, match="must not be negative"):
        CircuitBreakers.from_env({"RELAYFLOW_HTTP_BREAKER_OPEN_S": "-1"})


def test_the_shared_session_owns_its_breakers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_HTTP_BREAKER_FAILURES", "7")
    assert SharedSession().breakers.failures == 7
    mine = CircuitBreakers(1, 1)
    assert SharedSession(breakers=mine).breakers is mine


def test_states_and_opens_are_exported_as_metrics() -> None:
    b, clock = board(failures=1, open_s=5)
    b.failure("flaky.example:8443")
    clock.now += 5  # flaky: half-open
    b.failure("down.example")
    b.failure("up.example:1")
    b.success("up.example:1")
    text = Metrics().exposition().decode()
    assert 'relayflow_http_circuit_state{host="down.example"} 1.0' in text
    assert 'relayflow_http_circuit_state{host="flaky.example:8443"} 2.0' in text
    assert 'relayflow_http_circuit_state{host="up.example:1"} 0.0' in text
    assert 'relayflow_http_circuit_opens_total{host="down.example"} 1.0' in text
    assert "# TYPE relayflow_http_circuit_state gauge" in text
    assert "# TYPE relayflow_http_circuit_opens_total counter" in text
