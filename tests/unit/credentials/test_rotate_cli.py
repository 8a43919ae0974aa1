"""``relayflow credentials rotate-key`` as users call it: a real subprocess on the SQLite store
of a temporary RELAYFLOW_HOME, with keys from RELAYFLOW_ENCRYPTION_KEY."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import open_access_store
from relayflow.credentials.service import CredentialService
from relayflow.security.secrets import Keyring, key_id

OLD, NEW, GONE = os.urandom(32), os.urandom(32), os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def url(home: Path) -> str:
    return f"sqlite+aiosqlite:///{home / 'relayflow.db'}"


def cli(home: Path, keys: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYFLOW_")}
    env["RELAYFLOW_HOME"] = str(home)
    env["RELAYFLOW_ENCRYPTION_KEY"] = keys
    return subprocess.run(
        [sys.executable, "-m", "relayflow.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def fixed(access: AccessService) -> Callable[[], AccessService]:
    return lambda: access


async def seed(home: Path, sealed_with: list[tuple[bytes, str]]) -> dict[str, str]:
    """Credentials named as given, each sealed with its key; name -> id."""
    store = await open_access_store(url(home))
    try:
        user = await store.user_by_email("alice@example.com")
        ids = {}
        for key, name in sealed_with:
            access = AccessService(store, Keyring.of([key]), hasher=fast_hasher())
            if user is None:
                user = await access.create_user("alice@example.com", "Alice", "password-123")
            service = CredentialService(fixed(access))
            seen = await service.create(
                await access.principal(user),
                name=name,
                type_="httpBearerAuth",
                data={"token": f"token-of-{name}"},
                project_id=None,
            )
            ids[name] = seen.credential.id
        return ids
    finally:
        await store.close()


async def sealed_keys(home: Path) -> dict[str, str]:
    store = await open_access_store(url(home))
    try:
        ring = Keyring.of([NEW])
        return {c.name: ring.sealed_with(c.sealed) for c in await store.credentials(None)}
    finally:
        await store.close()


def test_rotate_key_reseals_old_rows(home: Path) -> None:
    asyncio.run(seed(home, [(OLD, "a"), (OLD, "b"), (NEW, "c")]))
    done = cli(home, f"{b64(NEW)},{b64(OLD)}", "credentials", "rotate-key")
    assert done.returncode == 0, done.stderr
    assert f"re-sealed 2 of 3 credentials under key {key_id(NEW)}" in done.stdout
    assert asyncio.run(sealed_keys(home)) == {"a": key_id(NEW), "b": key_id(NEW), "c": key_id(NEW)}
    again = cli(home, b64(NEW), "credentials", "rotate-key")
    assert again.returncode == 0 and "re-sealed 0 of 3" in again.stdout


def test_a_retired_key_exits_2_naming_the_row_and_changes_nothing(home: Path) -> None:
    ids = asyncio.run(seed(home, [(OLD, "a"), (GONE, "lost")]))
    done = cli(home, f"{b64(NEW)},{b64(OLD)}", "credentials", "rotate-key")
    assert done.returncode == 2
    assert ids["lost"] in done.stderr and key_id(GONE) in done.stderr
    assert asyncio.run(sealed_keys(home)) == {"a": key_id(OLD), "lost": key_id(GONE)}
