"""Real services for tests: find out whether one is up, skip (or fail, in CI) when it is not, and
give each test its own PostgreSQL database cloned from a migrated template.

``RELAYFLOW_REQUIRE_SERVICES=1`` turns every skip for a missing service into a failure.
``RELAYFLOW_TEST_POSTGRES_URL`` names the server's admin database (default: the local trust-auth
``postgres`` user).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from relayflow.store.sql.migrate import upgrade

T = TypeVar("T")
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def services_required() -> bool:
    return os.environ.get("RELAYFLOW_REQUIRE_SERVICES") == "1"


def require_or_skip(name: str, reason: str) -> NoReturn:
    """Skip the test because service ``name`` is missing; fail instead when services are required."""
    import pytest

    message = f"{name} unavailable: {reason}"
    if services_required():
        pytest.fail(message + " (RELAYFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def postgres_admin_url() -> str:
    return os.environ.get("RELAYFLOW_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def postgres_location(url: str | None = None) -> str:
    """host:port of the server, for messages (never the password)."""
    parsed = make_url(url or postgres_admin_url())
    return f"{parsed.host or '127.0.0.1'}:{parsed.port or 5432}"


def tcp_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def postgres_available(url: str | None = None) -> bool:
    parsed = make_url(url or postgres_admin_url())
    return tcp_open(parsed.host or "127.0.0.1", parsed.port or 5432)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop in another thread (safe inside a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def database_url(name: str, admin_url: str | None = None) -> str:
    return (
        make_url(admin_url or postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
    )


async def _admin(sql: str, admin_url: str | None = None) -> None:
    engine = create_async_engine(admin_url or postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def create_database(name: str, *, template: str | None = None, admin_url: str | None = None) -> str:
    """Create database ``name`` (a clone of ``template`` if given) and return its URL."""
    clause = f' TEMPLATE "{template}"' if template else ""
    await _admin(f'CREATE DATABASE "{name}"{clause}', admin_url)
    return database_url(name, admin_url)


async def drop_database(name: str, *, admin_url: str | None = None) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url)


async def create_migrated_template(admin_url: str | None = None) -> str:
    """A new database at the newest schema, to clone per test; returns its name."""
    name = f"relayflow_template_{uuid.uuid4().hex[:12]}"
    url = await create_database(name, admin_url=admin_url)
    try:
        await upgrade(url)
    except BaseException:
        await drop_database(name, admin_url=admin_url)
        raise
    return name


def fresh_database_name() -> str:
    return f"relayflow_t_{uuid.uuid4().hex}"
