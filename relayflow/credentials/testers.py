"""Credential testers: connect with the credential and report whether it worked.

A tester gets the decrypted fields (already held to their type) and returns a ``TestResult``; a
refused connection is a result, not an exception. The service runs each under a timeout and
scrubs every secret value from the message, so a driver that echoes its input cannot leak one.

HTTP calls (Slack, OAuth2 token endpoints) go through the SSRF guard. Database, Redis and SMTP
connections do not: such a credential names an internal host by design, and only editors of
its project can create or test it.

Drivers are imported inside each tester: the API process loads a driver only when it is used.
"""

from __future__ import annotations

import ssl as ssl_module
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    ok: bool
    message: str

    @property
    def status(self) -> str:
        return "ok" if self.ok else "error"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def fields_only(data: Mapping[str, Any]) -> TestResult:
    """HTTP header/query/basic/bearer auth and webhook secrets: nothing to call."""
    return TestResult(True, "fields are complete; no endpoint to test against")


async def postgres(data: Mapping[str, Any]) -> TestResult:
    import asyncpg  # type: ignore[import-untyped]

    try:
        conn = await asyncpg.connect(
            host=str(data["host"]),
            port=int(data.get("port", 5432)),
            user=str(data["user"]),
            password=data.get("password") or None,
            database=str(data["database"]),
            ssl=str(data.get("ssl", "disable")),
            timeout=TIMEOUT_S,
        )
    except Exception as exc:
        return TestResult(False, f"could not connect: {_describe(exc)}")
    try:
        await conn.fetchval("SELECT 1")
    except Exception as exc:
        return TestResult(False, f"connected, but SELECT 1 failed: {_describe(exc)}")
    finally:
        await conn.close(timeout=TIMEOUT_S)
    return TestResult(True, f"connected to {data['host']}:{data.get('port', 5432)}/{data['database']}")


async def mysql(data: Mapping[str, Any]) -> TestResult:
    import aiomysql  # type: ignore[import-untyped]

    try:
        conn = await aiomysql.connect(
            host=str(data["host"]),
            port=int(data.get("port", 3306)),
            user=str(data["user"]),
            password=str(data.get("password") or ""),
            db=str(data["database"]),
            connect_timeout=TIMEOUT_S,
        )
    except Exception as exc:
        return TestResult(False, f"could not connect: {_describe(exc)}")
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT 1")
    except Exception as exc:
        return TestResult(False, f"connected, but SELECT 1 failed: {_describe(exc)}")
    finally:
        conn.close()
    return TestResult(True, f"connected to {data['host']}:{data.get('port', 3306)}/{data['database']}")


async def redis(data: Mapping[str, Any]) -> TestResult:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = Redis(
        host=str(data["host"]),
        port=int(data.get("port", 6379)),
        password=data.get("password") or None,
        db=int(data.get("database", 0)),
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        # one attempt: a test reports what happened instead of retrying with backoff
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await client.ping()
    except Exception as exc:
        return TestResult(False, f"PING failed: {_describe(exc)}")
    finally:
        await client.aclose()
    return TestResult(True, f"PING answered by {data['host']}:{data.get('port', 6379)}")


async def smtp(data: Mapping[str, Any]) -> TestResult:
    import aiosmtplib

    secure = bool(data.get("secure", True))
    client = aiosmtplib.SMTP(
        hostname=str(data["host"]),
        port=int(data.get("port", 465)),
        use_tls=secure,
        # without SMTPS, upgrade with STARTTLS when the server offers it
        start_tls=None if not secure else False,
        timeout=TIMEOUT_S,
        tls_context=ssl_module.create_default_context(),
    )
    try:
        await client.connect()
    except Exception as exc:
        return TestResult(False, f"could not connect: {_describe(exc)}")
    try:
        if data.get("user"):
            await client.login(str(data["user"]), str(data.get("password") or ""))
    except Exception as exc:
        return TestResult(False, f"connected, but login failed: {_describe(exc)}")
    finally:
        try:
            await client.quit()
        except Exception:
            client.close()
    how = "logged in" if data.get("user") else "connected (no login configured)"
    return TestResult(True, f"{how} at {data['host']}:{data.get('port', 465)}")


async def slack(data: Mapping[str, Any]) -> TestResult:
    import aiohttp

    from relayflow.security.ssrf_http import guarded_session

    url = str(data.get("baseUrl") or "https://slack.com/api").rstrip("/") + "/auth.test"
    headers = {"Authorization": f"Bearer {data['accessToken']}"}
    try:
        async with (
            guarded_session(limit=1) as session,
            session.post(url, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as resp,
        ):
            body = await resp.json(content_type=None)
    except Exception as exc:
        return TestResult(False, f"could not call {url}: {_describe(exc)}")
    if not isinstance(body, dict):
        return TestResult(False, f"{url} answered HTTP {resp.status} without a JSON object")
    if body.get("ok") is True:
        who = " / ".join(str(body[k]) for k in ("team", "user") if body.get(k))
        return TestResult(True, f"authenticated{' as ' + who if who else ''}")
    return TestResult(False, f"Slack refused the token: {body.get('error') or f'HTTP {resp.status}'}")


async def oauth2(data: Mapping[str, Any]) -> TestResult:
    from relayflow.credentials import oauth2 as flow

    if data.get("grantType") == "clientCredentials":
        try:
            token = await flow.client_credentials(data)
        except flow.OAuth2Refused as exc:
            return TestResult(False, exc.message)
        expires_at = token.get("expires_at")
        valid = f" (valid for {int(expires_at - time.time())} s)" if expires_at else ""
        return TestResult(True, f"received an access token{valid}")
    tokens = data.get("oauthTokenData")
    if isinstance(tokens, Mapping) and tokens.get("access_token"):
        return TestResult(True, "connected: an access token is stored")
    return TestResult(False, "not connected yet: authorize it (GET .../oauth2/authorize) first")
