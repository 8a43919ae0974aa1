from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def sql_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """An empty SQLite file, or a fresh PostgreSQL database already at the newest schema."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/relayflow.db"
    return str(request.getfixturevalue("pg_url"))
