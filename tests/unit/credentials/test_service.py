"""The credential service over the memory access store: who sees and changes what, sealing,
redaction, audit, and the engine's vault (resolution by id and name, projects, the cache)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from relayflow.access.model import AuditQuery, InstanceRole, ObjectKind, Principal, ProjectRole
from relayflow.access.service import AccessService
from relayflow.credentials import service as service_module
from relayflow.credentials.service import CredentialService, run_tester
from relayflow.credentials.testers import TestResult
from relayflow.credentials.types import REDACTED, CredentialType, require_type
from relayflow.credentials.vault import StoreCredentialVault
from relayflow.errors import CredentialUnavailable, Forbidden, InputInvalid, NotFound
from tests.unit.credentials.conftest import join, person

SECRET = "s3cret-canary-value"
BASIC = {"user": "alice", "password": SECRET}


async def make(service: CredentialService, who: Principal, name: str = "api", **kw: Any) -> str:
    seen = await service.create(
        who,
        name=name,
        type_=kw.get("type_", "httpBasicAuth"),
        data=kw.get("data", BASIC),
        project_id=kw.get("project_id"),
    )
    return seen.credential.id


async def actions(access: AccessService, target_id: str) -> list[str]:
    page = await access.store.audit_log(AuditQuery(target_id=target_id, limit=100))
    return [e.action for e in reversed(page.items)]


async def test_create_seals_the_data_under_the_credential_id(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    cid = await make(service, alice)
    row = await access.store.get_credential(cid)
    assert row is not None and row.project_id == alice.user.personal_project_id
    assert SECRET not in row.sealed and row.sealed.startswith("rf1:")
    assert service.open(row) == BASIC
    assert await actions(access, cid) == ["credential.created"]


async def test_create_checks_the_project_and_role(access: AccessService, service: CredentialService) -> None:
    alice = await person(access, "alice@example.com")
    bob = await person(access, "bob@example.com")
    with pytest.raises(NotFound, match="no project"):
        await make(service, bob, project_id=alice.user.personal_project_id)
    bob = await join(access, bob, alice.user.personal_project_id, ProjectRole.VIEWER)
    with pytest.raises(Forbidden):
        await make(service, bob, project_id=alice.user.personal_project_id)
    bob = await join(access, bob, alice.user.personal_project_id, ProjectRole.EDITOR)
    cid = await make(service, bob, project_id=alice.user.personal_project_id)
    assert (await service.seen(alice, cid)).can_edit


async def test_create_validates_name_type_and_fields(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    with pytest.raises(InputInvalid, match="name"):
        await make(service, alice, name="  ")
    with pytest.raises(InputInvalid, match="unknown credential type"):
        await make(service, alice, type_="ftp")
    with pytest.raises(InputInvalid, match=r"data\.password is required"):
        await make(service, alice, data={"user": "u"})
    assert await access.store.credentials(None) == []


async def shared_team(
    access: AccessService, alice: Principal, bob: Principal
) -> tuple[str, Principal, Principal]:
    """A team project with bob as its editor and alice as a viewer (so she may share into it)."""
    team = await access.store.create_project("team")
    alice = await join(access, alice, team.id, ProjectRole.VIEWER)
    bob = await join(access, bob, team.id, ProjectRole.EDITOR)
    return team.id, alice, bob


async def test_visibility_follows_projects_and_shares(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    bob = await person(access, "bob@example.com")
    admin = await person(access, "root@example.com", InstanceRole.ADMIN)
    cid = await make(service, alice)
    assert [s.credential.id for s in await service.list(alice)] == [cid]
    assert await service.list(bob) == []
    assert [s.credential.id for s in await service.list(admin)] == [cid]
    with pytest.raises(NotFound):
        await service.seen(bob, cid)

    with pytest.raises(NotFound, match="no project"):  # alice is not a member of bob's project
        await service.share(alice, cid, [bob.user.personal_project_id])
    team, alice, bob = await shared_team(access, alice, bob)
    await service.share(alice, cid, [team])
    seen = await service.seen(bob, cid)
    assert seen.role is ProjectRole.VIEWER and not seen.direct and not seen.can_edit
    assert [s.credential.id for s in await service.list(bob)] == [cid]
    assert [s.credential.id for s in await service.list(bob, project_id=team)] == [cid]
    assert await service.list(bob, project_id=bob.user.personal_project_id) == []
    assert await service.list(bob, type_="postgres") == []
    for change in (
        service.update(bob, cid, name="x"),
        service.delete(bob, cid),
        service.test(bob, cid),
        service.share(bob, cid, []),
    ):
        with pytest.raises(Forbidden):
            await change


async def test_update_keeps_placeholder_secrets_and_audits_field_names(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    cid = await make(service, alice)
    seen = await service.update(alice, cid, name="renamed", data={"user": "bob", "password": REDACTED})
    assert seen.credential.name == "renamed"
    assert service.open(seen.credential) == {"user": "bob", "password": SECRET}
    shown = await service.read_data(alice, seen)
    assert shown == {"user": "bob", "password": REDACTED}
    page = await access.store.audit_log(AuditQuery(target_id=cid, limit=10))
    assert [e.action for e in page.items] == [
        "credential.read_data",
        "credential.updated",
        "credential.created",
    ]
    assert page.items[1].detail == {"fields": ["password", "user"], "name": "renamed"}
    assert SECRET not in repr([e.detail for e in page.items])
    with pytest.raises(InputInvalid, match=r"data\.nope"):
        await service.update(alice, cid, data={"nope": 1})


async def test_transfer_moves_to_a_project_of_the_caller(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    bob = await person(access, "bob@example.com")
    team = await access.store.create_project("team")
    cid = await make(service, alice)
    with pytest.raises(NotFound):
        await service.transfer(alice, cid, bob.user.personal_project_id)
    alice = await join(access, alice, team.id, ProjectRole.VIEWER)
    await service.share(alice, cid, [team.id])
    moved = await service.transfer(alice, cid, team.id)
    assert moved.credential.project_id == team.id and moved.shared_with == frozenset()
    # a viewer of the new project: sees it, may not change it
    assert not (await service.seen(alice, cid)).can_edit
    assert (await actions(access, cid))[-1] == "credential.moved"


async def test_delete_forgets_the_credential(access: AccessService, service: CredentialService) -> None:
    alice = await person(access, "alice@example.com")
    bob = await person(access, "bob@example.com")
    cid = await make(service, alice)
    team, alice, bob = await shared_team(access, alice, bob)
    await service.share(alice, cid, [team])
    await service.delete(alice, cid)
    assert await access.store.get_credential(cid) is None
    assert await access.store.shares_of(ObjectKind.CREDENTIAL, cid) == frozenset()
    with pytest.raises(NotFound):
        await service.seen(alice, cid)


async def test_the_tester_message_never_carries_a_secret() -> None:
    async def echo(data: Mapping[str, Any]) -> TestResult:
        return TestResult(False, f"login as {data['user']} with {data['password']} refused")

    ctype = CredentialType("echo", "Echo", require_type("httpBasicAuth").fields, echo)
    result = await run_tester(ctype, BASIC)
    assert result.status == "error" and SECRET not in result.message
    assert result.message == "login as alice with *** refused"


async def test_a_slow_tester_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    async def stuck(data: Mapping[str, Any]) -> TestResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(service_module, "TIMEOUT_S", 0.01)
    ctype = CredentialType("stuck", "Stuck", (), stuck)
    result = await run_tester(ctype, {})
    assert result.status == "error" and "no answer within" in result.message


# --- the vault -------------------------------------------------------------------------------


async def workflow_of(access: AccessService, project_id: str, workflow_id: str = "wf-1") -> str:
    await access.store.set_owner(ObjectKind.WORKFLOW, workflow_id, project_id)
    return workflow_id


async def test_vault_resolves_by_id_then_by_name(access: AccessService, service: CredentialService) -> None:
    alice = await person(access, "alice@example.com")
    cid = await make(service, alice, name="main")
    wf = await workflow_of(access, alice.user.personal_project_id)
    vault = StoreCredentialVault(service)
    assert await vault.get("httpBasicAuth", {"id": cid, "name": "other"}, workflow_id=wf) == BASIC
    assert await vault.get("httpBasicAuth", {"id": "gone", "name": "main"}, workflow_id=wf) == BASIC
    assert await vault.get("httpBasicAuth", {"name": "main"}, workflow_id=wf) == BASIC
    with pytest.raises(CredentialUnavailable, match="httpHeaderAuth credential 'main'"):
        await vault.get("httpHeaderAuth", {"id": cid, "name": "main"}, workflow_id=wf)


async def test_vault_hands_out_only_the_workflows_projects_credentials(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    bob = await person(access, "bob@example.com")
    cid = await make(service, alice, name="alices")
    team, alice, bob = await shared_team(access, alice, bob)
    bobs_wf = await workflow_of(access, team, "wf-bob")
    vault = StoreCredentialVault(service)
    ref = {"id": cid, "name": "alices"}
    with pytest.raises(CredentialUnavailable) as caught:
        await vault.get("httpBasicAuth", ref, workflow_id=bobs_wf)
    assert SECRET not in str(caught.value) and caught.value.code == "credential_unavailable"
    with pytest.raises(CredentialUnavailable):
        await vault.get("httpBasicAuth", ref, workflow_id="unowned")
    with pytest.raises(CredentialUnavailable):
        await vault.get("httpBasicAuth", ref)

    await service.share(alice, cid, [team])
    assert await vault.get("httpBasicAuth", ref, workflow_id=bobs_wf) == BASIC
    assert await vault.get("httpBasicAuth", {"name": "alices"}, workflow_id=bobs_wf) == BASIC


async def test_vault_prefers_the_own_project_by_name(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    bob = await person(access, "bob@example.com")
    shared = await make(service, alice, name="db", data={"user": "shared", "password": "x"})
    team, alice, bob = await shared_team(access, alice, bob)
    await service.share(alice, shared, [team])
    await make(service, bob, name="db", data={"user": "own", "password": "y"}, project_id=team)
    wf = await workflow_of(access, team)
    got = await StoreCredentialVault(service).get("httpBasicAuth", {"name": "db"}, workflow_id=wf)
    assert got["user"] == "own"


async def test_vault_sees_changes_made_through_the_service(
    access: AccessService, service: CredentialService
) -> None:
    alice = await person(access, "alice@example.com")
    cid = await make(service, alice)
    wf = await workflow_of(access, alice.user.personal_project_id)
    vault = StoreCredentialVault(service, ttl_s=3600)
    ref = {"id": cid}
    first = await vault.get("httpBasicAuth", ref, workflow_id=wf)
    first["password"] = "mutated by a node"
    assert (await vault.get("httpBasicAuth", ref, workflow_id=wf))["password"] == SECRET
    await service.update(alice, cid, data={"password": "rotated"})
    assert (await vault.get("httpBasicAuth", ref, workflow_id=wf))["password"] == "rotated"
    await service.delete(alice, cid)
    with pytest.raises(CredentialUnavailable):
        await vault.get("httpBasicAuth", ref, workflow_id=wf)


async def test_the_service_follows_a_replaced_access_service(access: AccessService) -> None:
    holder = {"access": access}
    service = CredentialService(lambda: holder["access"])
    alice = await person(access, "alice@example.com")
    await make(service, alice)
    other = AccessService(type(access.store)(), access.keyring)
    holder["access"] = other
    assert await service.list(await person(other, "root@example.com", InstanceRole.OWNER)) == []
