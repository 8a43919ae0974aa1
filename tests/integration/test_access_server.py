"""The server keeps users, keys and credentials in its database, under its keyring: the access
store opens (and closes) with the other stores, and a bad encryption key stops the start."""

from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path

import pytest

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import InstanceRole, ObjectKind
from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import SqlAccessStore
from relayflow.api import build_services
from relayflow.security.secrets import KEY_FILE, load_keyring
from relayflow.server import ServerSettings, close, open_stores
from tests.api.test_server import ServerProcess, _start_in_process


async def test_open_stores_opens_the_access_store_and_a_restart_keeps_users(
    sql_url: str, tmp_path: Path
) -> None:
    settings = ServerSettings(database_url=sql_url, home=tmp_path)
    workflows, executions, slots, hooks, access = await open_stores(settings)
    try:
        assert isinstance(access, SqlAccessStore)
        keyring = load_keyring(tmp_path, {})
        service = AccessService(access, keyring, hasher=fast_hasher())
        owner = await service.setup_owner("ada@example.com", "Ada", "correct horse battery")
        await access.set_owner(ObjectKind.WORKFLOW, "wf-1", owner.personal_project_id)
    finally:
        for store in (access, hooks, slots, executions, workflows):
            await store.close()
    workflows, executions, slots, hooks, again = await open_stores(settings)
    try:
        assert await again.user_by_email("ADA@example.com") == owner
        assert await again.owner_of(ObjectKind.WORKFLOW, "wf-1") == owner.personal_project_id
        service = AccessService(again, load_keyring(tmp_path, {}), hasher=fast_hasher())
        assert (await service.store.users())[0].role is InstanceRole.OWNER
    finally:
        for store in (again, hooks, slots, executions, workflows):
            await store.close()


class _Recorded(MemoryAccessStore):
    closed = False

    async def close(self) -> None:
        self.closed = True
        await super().close()


async def test_the_servers_close_closes_the_access_store(tmp_path: Path) -> None:
    settings = ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/relayflow.db", home=tmp_path)
    workflows, executions, slots, hooks, access = await open_stores(settings)
    await access.close()
    recorded = _Recorded()
    services = build_services(
        workflows,
        executions,
        webhook_registry=hooks,
        access=AccessService(recorded, load_keyring(tmp_path, {}), hasher=fast_hasher()),
    )
    await close(services, 0, asyncio.Event())
    await slots.close()
    assert recorded.closed


@pytest.mark.parametrize(
    "key",
    [
        "not base64!",
        base64.b64encode(b"short").decode(),
        f"{base64.b64encode(b'k' * 32).decode()},{base64.b64encode(b'x' * 16).decode()}",
    ],
    ids=["not-base64", "short", "one-of-two-short"],
)
def test_a_bad_encryption_key_exits_2_with_one_line(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELAYFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("RELAYFLOW_ENCRYPTION_KEY", key)
    assert _start_in_process(monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("relayflow: ") and "RELAYFLOW_ENCRYPTION_KEY" in err
    assert err.count("\n") == 1
    assert key not in err  # the key is not echoed
    assert not (tmp_path / "relayflow.db").exists()


def test_a_key_file_others_can_read_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    load_keyring(tmp_path, {})
    (tmp_path / KEY_FILE).chmod(0o644)
    monkeypatch.setenv("RELAYFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("RELAYFLOW_ENCRYPTION_KEY", raising=False)
    assert _start_in_process(monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("relayflow: ") and "chmod 600" in err and err.count("\n") == 1


def test_the_first_start_makes_a_private_key_file_the_next_reuses(tmp_path: Path) -> None:
    env = {"RELAYFLOW_ENCRYPTION_KEY": ""}
    keys = []
    for _ in range(2):
        server = ServerProcess(tmp_path, **env)
        try:
            server.base_url()
            assert server.stop() == 0, server.log()
        finally:
            server.close()
        path = tmp_path / KEY_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        keys.append(path.read_text())
    assert keys[0] == keys[1]
