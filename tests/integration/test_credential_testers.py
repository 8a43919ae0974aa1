"""The credential testers against real services: PostgreSQL, MariaDB/MySQL and Redis on this
machine, a local SMTP server with authentication (aiosmtpd), and a Slack stand-in. Each failure
is a result whose message never carries the secret."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from relayflow.credentials.service import run_tester
from relayflow.credentials.testers import TestResult
from relayflow.credentials.types import check_fields, require_type
from relayflow.testing import services

CANARY = "tester-canary-Kp2"


async def try_credential(type_: str, data: dict[str, Any]) -> TestResult:
    ctype = require_type(type_)
    return await run_tester(ctype, check_fields(ctype, data))


def need(name: str, host: str, port: int) -> None:
    if not services.tcp_open(host, port):
        services.require_or_skip(name, f"nothing listens at {host}:{port}")


def failed_without_canary(result: TestResult) -> str:
    assert result.status == "error", result.message
    assert result.message and CANARY not in result.message
    return result.message


@pytest.mark.services
async def test_postgres() -> None:
    need("PostgreSQL", "127.0.0.1", 5432)
    base = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
    ok = await try_credential("postgres", base)
    assert ok.status == "ok", ok.message
    missing = await try_credential("postgres", {**base, "database": "no_such_db_x", "password": CANARY})
    assert "no_such_db_x" in failed_without_canary(missing)
    failed_without_canary(await try_credential("postgres", {**base, "port": 1, "password": CANARY}))


@pytest.mark.services
async def test_mysql() -> None:
    need("MariaDB", "127.0.0.1", 3306)
    base = {"host": "127.0.0.1", "port": 3306, "user": "root", "database": "mysql"}
    ok = await try_credential("mySql", base)
    assert ok.status == "ok", ok.message
    refused = await try_credential("mySql", {**base, "password": CANARY})
    assert "denied" in failed_without_canary(refused).lower()


@pytest.mark.services
async def test_redis() -> None:
    need("Redis", "127.0.0.1", 6379)
    ok = await try_credential("redis", {"host": "127.0.0.1", "port": 6379})
    assert ok.status == "ok", ok.message
    failed_without_canary(
        await try_credential("redis", {"host": "127.0.0.1", "port": 6379, "database": 100000})
    )
    failed_without_canary(await try_credential("redis", {"host": "127.0.0.1", "port": 1, "password": CANARY}))


class Authenticator:
    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"mailer",
            b"right-password",
        )
        return AuthResult(success=good, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_port() -> Iterator[int]:
    # aiosmtpd's Controller checks it is up by connecting to the port it was given: not 0
    port = free_port()
    controller = Controller(
        object(), hostname="127.0.0.1", port=port, authenticator=Authenticator(), auth_require_tls=False
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def test_smtp(smtp_port: int) -> None:
    base = {"host": "127.0.0.1", "port": smtp_port, "secure": False}
    ok = await try_credential("smtp", {**base, "user": "mailer", "password": "right-password"})
    assert ok.status == "ok" and "logged in" in ok.message, ok.message
    anonymous = await try_credential("smtp", base)
    assert anonymous.status == "ok" and "no login" in anonymous.message
    refused = await try_credential("smtp", {**base, "user": "mailer", "password": CANARY})
    assert "login failed" in failed_without_canary(refused)


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    async def auth_test(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") == "Bearer xoxb-good":
            return web.json_response({"ok": True, "team": "Acme", "user": "relaybot"})
        return web.json_response({"ok": False, "error": "invalid_auth"})

    app = web.Application()
    app.router.add_post("/api/auth.test", auth_test)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{server.port}")
    yield str(server.make_url("/api"))
    await server.close()


async def test_slack(slack: str) -> None:
    ok = await try_credential("slackApi", {"accessToken": "xoxb-good", "baseUrl": slack})
    assert ok.status == "ok" and ok.message == "authenticated as Acme / relaybot"
    refused = await try_credential("slackApi", {"accessToken": CANARY, "baseUrl": slack})
    assert "invalid_auth" in failed_without_canary(refused)


async def test_slack_goes_through_the_ssrf_guard(slack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYFLOW_HTTP_ALLOW")
    refused = await try_credential("slackApi", {"accessToken": CANARY, "baseUrl": slack})
    assert "loopback" in failed_without_canary(refused)
