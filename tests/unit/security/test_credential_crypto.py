"""X10: credential encryption through the service and the vault, on the memory, SQLite and
PostgreSQL access stores. A tampered value and a value copied onto another row fail loudly; a key rotation
keeps old rows readable and re-seals them; a retired key fails loudly and stops a rotation
before it changes anything."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import AuditQuery, ObjectKind, Principal
from relayflow.access.ports import AccessStore
from relayflow.access.service import AccessService, fast_hasher
from relayflow.credentials.rotation import rotate_keys
from relayflow.credentials.service import CredentialService
from relayflow.credentials.vault import StoreCredentialVault
from relayflow.errors import CredentialUnavailable
from relayflow.security.secrets import Keyring, SecretKeyRetired, SecretTampered, key_id

OLD, NEW, GONE = os.urandom(32), os.urandom(32), os.urandom(32)
SECRET = "x10-canary-secret"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AccessStore]:
    if request.param == "memory":
        opened: AccessStore = MemoryAccessStore()
    else:
        from relayflow.access.sql import open_access_store

        url = (
            f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}"
            if request.param == "sqlite"
            else str(request.getfixturevalue("pg_url"))
        )
        opened = await open_access_store(url)
    yield opened
    await opened.close()


def under(store: AccessStore, *keys: bytes) -> CredentialService:
    access = AccessService(store, Keyring.of(list(keys)), hasher=fast_hasher())
    return CredentialService(lambda: access)


async def owner(service: CredentialService) -> Principal:
    user = await service.access.create_user("alice@example.com", "Alice", "password-123")
    await service.store.set_owner(ObjectKind.WORKFLOW, "wf", user.personal_project_id)
    return await service.access.principal(user)


async def create(service: CredentialService, who: Principal, name: str, secret: str = SECRET) -> str:
    seen = await service.create(
        who, name=name, type_="httpHeaderAuth", data={"name": "X-Key", "value": secret}, project_id=None
    )
    return seen.credential.id


async def test_a_tampered_value_fails_loudly(store: AccessStore) -> None:
    service = under(store, NEW)
    alice = await owner(service)
    cid = await create(service, alice, "api")
    row = await store.get_credential(cid)
    assert row is not None
    flipped = row.sealed[:-6] + ("A" if row.sealed[-6] != "A" else "B") + row.sealed[-5:]
    await store.update_credential(cid, sealed=flipped)
    service.changed()
    with pytest.raises(SecretTampered):
        await service.read_data(alice, await service.seen(alice, cid))
    with pytest.raises(CredentialUnavailable, match="cannot be decrypted") as caught:
        await StoreCredentialVault(service).get("httpHeaderAuth", {"id": cid}, workflow_id="wf")
    assert isinstance(caught.value.__cause__, SecretTampered)


async def test_a_value_copied_onto_another_row_does_not_open(store: AccessStore) -> None:
    service = under(store, NEW)
    alice = await owner(service)
    victim = await create(service, alice, "victim", "victim-secret")
    attacker = await create(service, alice, "attacker", "attacker-secret")
    row = await store.get_credential(victim)
    assert row is not None
    await store.update_credential(attacker, sealed=row.sealed)  # the swapped row
    service.changed()
    with pytest.raises(SecretTampered, match="another record"):
        await service.test(alice, attacker)
    with pytest.raises(CredentialUnavailable) as caught:
        await StoreCredentialVault(service).get("httpHeaderAuth", {"id": attacker}, workflow_id="wf")
    assert "victim-secret" not in str(caught.value)


async def test_rotation_keeps_old_rows_readable_and_reseals_them(store: AccessStore) -> None:
    before = under(store, OLD)
    alice = await owner(before)
    ids = [await create(before, alice, f"c{i}", f"secret-{i}") for i in range(3)]

    during = under(store, NEW, OLD)  # RELAYFLOW_ENCRYPTION_KEY="NEW,OLD"
    vault = StoreCredentialVault(during)
    assert (await vault.get("httpHeaderAuth", {"id": ids[0]}, workflow_id="wf"))["value"] == "secret-0"
    # a change made now is sealed with the new key; the others wait for the rotation
    await during.update(alice, ids[1], data={"value": "secret-1b"})
    sealed_by = {c.id: during.keyring.sealed_with(c.sealed) for c in await store.credentials(None)}
    assert sealed_by == {ids[0]: key_id(OLD), ids[1]: key_id(NEW), ids[2]: key_id(OLD)}

    done = await rotate_keys(during.access)
    assert (done.total, done.resealed, done.current_key) == (3, 2, key_id(NEW))
    assert {during.keyring.sealed_with(c.sealed) for c in await store.credentials(None)} == {key_id(NEW)}
    again = await rotate_keys(during.access)
    assert again.resealed == 0
    log = await store.audit_log(AuditQuery(action="credential.rotated", limit=10))
    assert sorted(e.target_id or "" for e in log.items) == sorted([ids[0], ids[2]])

    after = under(store, NEW)  # the old key retired once the rotation ran
    vault = StoreCredentialVault(after)
    values = [(await vault.get("httpHeaderAuth", {"id": i}, workflow_id="wf"))["value"] for i in ids]
    assert values == ["secret-0", "secret-1b", "secret-2"]


async def test_a_retired_key_fails_loudly_and_stops_the_rotation(store: AccessStore) -> None:
    before = under(store, GONE)
    alice = await owner(before)
    lost = await create(before, alice, "lost")
    older = under(store, OLD)
    kept = await create(older, alice, "kept")
    snapshot = {c.id: c.sealed for c in await store.credentials(None)}

    now = under(store, NEW, OLD)  # GONE is no longer configured
    with pytest.raises(SecretKeyRetired, match=key_id(GONE)):
        await now.read_data(alice, await now.seen(alice, lost))
    with pytest.raises(CredentialUnavailable) as caught:
        await StoreCredentialVault(now).get("httpHeaderAuth", {"id": lost}, workflow_id="wf")
    assert isinstance(caught.value.__cause__, SecretKeyRetired)

    with pytest.raises(SecretKeyRetired) as refused:
        await rotate_keys(now.access)
    assert lost in str(refused.value) and key_id(GONE) in str(refused.value)
    # nothing changed: not even the row the keyring could have re-sealed
    assert {c.id: c.sealed for c in await store.credentials(None)} == snapshot
    assert (await StoreCredentialVault(now).get("httpHeaderAuth", {"id": kept}, workflow_id="wf"))[
        "value"
    ] == SECRET
