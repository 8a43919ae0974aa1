"""``relayflow user create`` and ``relayflow api-key create`` as users call them: a real
subprocess on the default SQLite database in a temporary RELAYFLOW_HOME, checked through the
access store the server would open."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relayflow.access.model import Principal
from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import open_access_store
from relayflow.security.secrets import Keyring

PASSWORD = "owner-password-1"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli(
    home: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAYFLOW_")}
    base["RELAYFLOW_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "relayflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
        input=stdin,
    )


def url(home: Path) -> str:
    return f"sqlite+aiosqlite:///{home / 'relayflow.db'}"


def authenticate(home: Path, token: str) -> Principal:
    async def go() -> Principal:
        store = await open_access_store(url(home))
        try:
            access = AccessService(store, Keyring.of([os.urandom(32)]), hasher=fast_hasher())
            return await access.authenticate(token)
        finally:
            await store.close()

    return asyncio.run(go())


def login_works(home: Path, email: str, password: str) -> bool:
    async def go() -> bool:
        store = await open_access_store(url(home))
        try:
            access = AccessService(store, Keyring.of([os.urandom(32)]), hasher=fast_hasher())
            user = await store.user_by_email(email)
            return user is not None and await access.verify_password(user, password)
        finally:
            await store.close()

    return asyncio.run(go())


def test_owner_then_key_from_stdin(home: Path) -> None:
    r = cli(
        home,
        "user",
        "create",
        "--owner",
        "--email",
        "Boss@Example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    user_id, email, role = r.stdout.split()
    assert (email, role) == ("boss@example.com", "owner")
    assert login_works(home, "boss@example.com", PASSWORD)
    assert PASSWORD not in r.stdout + r.stderr

    r = cli(
        home, "api-key", "create", "--email", "boss@example.com", "--name", "ci", "--scopes", "read,write"
    )
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("rfk_") and r.stdout == key + "\n"
    principal = authenticate(home, key)
    assert principal.user.id == user_id
    assert sorted(principal.scopes) == ["read", "write"]


def test_owner_password_from_env_and_only_once(home: Path) -> None:
    env = {"RELAYFLOW_OWNER_PASSWORD": PASSWORD}
    r = cli(home, "user", "create", "--owner", "--email", "boss@example.com", env=env)
    assert r.returncode == 0, r.stderr
    r = cli(home, "user", "create", "--owner", "--email", "other@example.com", env=env)
    assert r.returncode == 2
    assert r.stderr.startswith("relayflow:") and len(r.stderr.strip().splitlines()) == 1
    assert "already set up" in r.stderr
    r = cli(home, "user", "create", "--email", "m@example.com", "--role", "member", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[2] == "member"


def test_member_keys_and_expiry(home: Path) -> None:
    env = {"RELAYFLOW_OWNER_PASSWORD": PASSWORD}
    assert cli(home, "user", "create", "--email", "m@example.com", env=env).returncode == 0
    r = cli(home, "api-key", "create", "--email", "m@example.com", "--name", "x", "--scopes", "admin")
    assert r.returncode == 2 and "admin scope" in r.stderr and r.stdout == ""
    r = cli(home, "api-key", "create", "--email", "m@example.com", "--name", "x", "--expires-in-days", "1")
    assert r.returncode == 0, r.stderr
    principal = authenticate(home, r.stdout.strip())
    assert sorted(principal.scopes) == ["read", "write"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "create", "--owner", "--email", "a@example.com"), None, "RELAYFLOW_OWNER_PASSWORD"),
        (("user", "create", "--owner", "--email", "a@example.com", "--password-stdin"), "", "no password"),
        (
            ("user", "create", "--owner", "--email", "a@example.com", "--password-stdin"),
            "short\n",
            "8 characters",
        ),
        (("user", "create", "--owner", "--email", "nobody", "--password-stdin"), PASSWORD, "e-mail"),
        (
            ("user", "create", "--email", "a@example.com", "--role", "owner", "--password-stdin"),
            PASSWORD,
            "--role",
        ),
        (("api-key", "create", "--email", "a@example.com", "--name", "x"), None, "no user"),
        (
            ("api-key", "create", "--email", "a@example.com", "--name", "x", "--scopes", "root"),
            None,
            "--scopes",
        ),
        (
            ("api-key", "create", "--email", "a@example.com", "--name", "x", "--expires-in-days", "0"),
            None,
            "positive",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    home: Path, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    r = cli(home, *args, stdin=stdin)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relayflow:") and message in lines[0], r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize(
    "env",
    [
        {"RELAYFLOW_RATE_LIMIT_PER_MINUTE": "0"},
        {"RELAYFLOW_LOGIN_ATTEMPTS_PER_MINUTE": "lots"},
        {"RELAYFLOW_ACCESS_TOKEN_TTL_S": "soon"},
        {"RELAYFLOW_REFRESH_TOKEN_TTL_S": "-1"},
    ],
)
def test_bad_limits_or_lifetimes_stop_the_start(home: Path, env: dict[str, str]) -> None:
    r = cli(home, "start", env={**env, "RELAYFLOW_PORT": "0"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and next(iter(env)) in lines[0]
