"""The service helpers: a missing service skips a test, or fails it when services are required."""

from __future__ import annotations

import socket

import pytest

from relayflow.testing import services


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_postgres_available_sees_a_closed_port() -> None:
    assert services.postgres_available(f"postgresql+asyncpg://u@127.0.0.1:{_closed_port()}/db") is False


@pytest.mark.services
def test_postgres_available_here() -> None:
    if not services.postgres_available():
        services.require_or_skip("PostgreSQL", "not running")
    assert services.postgres_available() is True


def test_require_or_skip_skips_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYFLOW_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis unavailable: down"):
        services.require_or_skip("Redis", "down")


def test_require_or_skip_fails_when_services_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="Redis unavailable: down"):
        services.require_or_skip("Redis", "down")


def test_database_url_names_the_database() -> None:
    url = services.database_url("t_1", "postgresql+asyncpg://u:secret@h:5433/postgres")
    assert url == "postgresql+asyncpg://u:secret@h:5433/t_1"
