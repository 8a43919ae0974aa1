"""Where relayflow keeps its data, from the environment, and the factory that opens the stores.

``RELAYFLOW_HOME`` (default ``~/.relayflow``) holds the embedded SQLite database.
``RELAYFLOW_DATABASE_URL`` (default ``sqlite+aiosqlite:///$RELAYFLOW_HOME/relayflow.db``) may name
PostgreSQL: ``postgresql+asyncpg://user:pass@host/db``; ``postgresql://`` and ``postgres://`` are
given the asyncpg driver, ``sqlite://`` the aiosqlite one.

SQLAlchemy and the SQL stores are imported only when a URL is checked or the stores are opened,
so reading the settings costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from relayflow.errors import InputInvalid

if TYPE_CHECKING:
    from relayflow.engine.ports import Clock
    from relayflow.store.ports import ExecutionStore, WorkflowStore

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
_SUPPORTED = frozenset(_DRIVERS.values())


def relayflow_home(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("RELAYFLOW_HOME") or "~/.relayflow").expanduser()


def database_url(env: Mapping[str, str] = os.environ) -> str:
    url = env.get("RELAYFLOW_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{relayflow_home(env) / 'relayflow.db'}"
    return normalize_url(url)


def normalize_url(url: str) -> str:
    """The async-driver form of a database URL; anything but SQLite or PostgreSQL is refused."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InputInvalid(f"not a database URL: {url!r}")
    scheme = _DRIVERS.get(scheme, scheme)
    if scheme not in _SUPPORTED:
        raise InputInvalid(f"unsupported database {scheme!r}: use sqlite+aiosqlite or postgresql+asyncpg")
    normalized = f"{scheme}://{rest}"
    try:
        make_url(normalized)
    except ArgumentError as exc:
        raise InputInvalid(f"not a database URL: {url!r}") from exc
    return normalized


async def open_stores(
    url: str | None = None, *, clock: Clock | None = None
) -> tuple[WorkflowStore, ExecutionStore]:
    """Migrate the database to the newest schema and open both stores on one engine.

    Close both stores; the engine is disposed when the second one closes.
    """
    from relayflow.store.sql import open_sql_stores

    return await open_sql_stores(normalize_url(url or database_url()), clock=clock)
