"""The circuit breaker through the HTTP Request node, against a local server that fails on
demand: it opens after N consecutive failures (5xx, connection errors), fails requests at once
while open (the server sees none), lets one probe through when half-open, and closes on its
success; the state is in the metrics. The breakers' clock is moved by hand (no sleeping)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from relayflow.engine.executor import Engine
from relayflow.http_session import CLOSED, HALF_OPEN, OPEN, CircuitBreakers, SharedSession
from relayflow.metrics import Metrics
from relayflow.testing import NodeRunFailed, make_engine, output_json
from tests.integration.http_request_support import State, app, http, start, url


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def state() -> State:
    return State()


@pytest.fixture
async def server(state: State, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    srv = await start(app(state))
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port},127.0.0.1:9")
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def shared() -> AsyncIterator[tuple[SharedSession, Clock]]:
    clock = Clock()
    session = SharedSession(breakers=CircuitBreakers(3, 30, clock=clock))
    try:
        yield session, clock
    finally:
        await session.close()


async def fail(engine: Engine, target: str) -> str:
    with pytest.raises(NodeRunFailed) as info:
        await http({"url": target, "options": {"timeout": 2000}}, engine=engine)
    message: str = info.value.error["message"]
    return message


async def test_open_half_open_closed(
    server: TestServer, state: State, shared: tuple[SharedSession, Clock]
) -> None:
    session, clock = shared
    engine = make_engine(http=session)
    host = f"127.0.0.1:{server.port}"
    target = url(server, "/flaky")
    for _ in range(3):  # three executions in a row get HTTP 503
        assert "HTTP 503" in await fail(engine, target)
    assert session.breakers.state(host) == OPEN and state.hits["flaky"] == 3
    text = Metrics().exposition().decode()
    assert f'relayflow_http_circuit_state{{host="{host}"}} 1.0' in text
    assert f'relayflow_http_circuit_opens_total{{host="{host}"}} 1.0' in text

    # open: fails at once, the server sees nothing
    message = await fail(engine, target)
    assert f"circuit open for host {host}, retry after 30 s" in message and state.hits["flaky"] == 3

    # half-open after the cool-down: a failing probe opens it again
    clock.now += 30
    assert session.breakers.state(host) == HALF_OPEN
    assert "HTTP 503" in await fail(engine, target)
    assert session.breakers.state(host) == OPEN and state.hits["flaky"] == 4
    assert f'relayflow_http_circuit_opens_total{{host="{host}"}} 2.0' in Metrics().exposition().decode()

    # the next probe succeeds: closed, requests flow again
    clock.now += 30
    state.flaky_status = 200
    out = await http({"url": target}, engine=engine)
    assert output_json(out) == [{"status": 200}]
    assert session.breakers.state(host) == CLOSED
    assert f'relayflow_http_circuit_state{{host="{host}"}} 0.0' in Metrics().exposition().decode()
    await http({"url": target}, engine=engine)
    assert state.hits["flaky"] == 6


async def test_client_errors_do_not_count(server: TestServer, shared: tuple[SharedSession, Clock]) -> None:
    session, _ = shared
    engine = make_engine(http=session)
    for _ in range(5):
        assert "HTTP 404" in await fail(engine, url(server, "/nope"))
    assert session.breakers.state(f"127.0.0.1:{server.port}") == CLOSED


async def test_connection_errors_count(server: TestServer, shared: tuple[SharedSession, Clock]) -> None:
    session, _ = shared
    engine = make_engine(http=session)
    for _ in range(3):
        assert "failed" in await fail(engine, "http://127.0.0.1:9/x")
    assert "circuit open for host 127.0.0.1:9" in await fail(engine, "http://127.0.0.1:9/x")
    # the other host is unaffected
    assert output_json(await http({"url": url(server, "/echo")}, engine=engine))[0]["method"] == "GET"


async def test_items_after_the_opening_fail_at_once(
    server: TestServer, state: State, shared: tuple[SharedSession, Clock]
) -> None:
    session, _ = shared
    params = {
        "url": url(server, "/flaky"),
        "options": {"batching": {"batch": {"batchSize": 1, "batchInterval": 0}}},
    }
    out = await http(
        params,
        [{"i": i} for i in range(6)],
        engine=make_engine(http=session),
        node_fields={"onError": "continueErrorOutput"},
    )
    errors = [item["json"]["error"] for item in out[1]]
    assert len(errors) == 6 and state.hits["flaky"] == 3
    assert all("HTTP 503" in e for e in errors[:3]) and all("circuit open" in e for e in errors[3:])


async def test_the_default_breakers_follow_the_environment(
    server: TestServer, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_HTTP_BREAKER_FAILURES", "2")
    session = SharedSession()
    try:
        engine = make_engine(http=session)
        for _ in range(2):
            await fail(engine, url(server, "/flaky"))
        assert "circuit open" in await fail(engine, url(server, "/flaky"))
        assert state.hits["flaky"] == 2
    finally:
        await session.close()
