"""AccessStore contract: memory, SQLite and PostgreSQL agree on users, projects, ownership,
credentials, API keys, sessions and the audit log (relayflow/access/ports.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import (
    ApiKey,
    AuditEntry,
    AuditQuery,
    InstanceRole,
    Member,
    ObjectKind,
    ProjectKind,
    ProjectRole,
    Scope,
    Session,
    StoredCredential,
    User,
)
from relayflow.access.ports import AccessStore
from relayflow.access.sql import open_access_store
from relayflow.engine.memory import FakeClock
from relayflow.errors import Conflict, InputInvalid, NotFound

WF = ObjectKind.WORKFLOW
CRED = ObjectKind.CREDENTIAL


async def _open(db_url: str | None, clock: FakeClock) -> AccessStore:
    return MemoryAccessStore(clock) if db_url is None else await open_access_store(db_url, clock=clock)


@pytest.fixture
async def store(db_url: str | None, clock: FakeClock) -> AsyncIterator[AccessStore]:
    opened = await _open(db_url, clock)
    yield opened
    await opened.close()


@pytest.fixture
async def second(db_url: str | None, clock: FakeClock, store: AccessStore) -> AsyncIterator[AccessStore]:
    """Another handle on the same data: on SQL its own engine (another server), in memory the same."""
    if db_url is None:
        yield store
        return
    opened = await open_access_store(db_url, clock=clock)
    yield opened
    await opened.close()


async def _user(store: AccessStore, email: str, role: InstanceRole = InstanceRole.MEMBER) -> User:
    return await store.create_user(email, email.split("@")[0].title(), "hash-" + email, role)


def _credential(
    clock: FakeClock, project_id: str, name: str = "GitHub", id_: str = "cred-1"
) -> StoredCredential:
    now = clock.now()
    return StoredCredential(id_, name, "githubApi", project_id, "v1:sealed", now, now)


def _key(clock: FakeClock, user_id: str, id_: str = "k1") -> ApiKey:
    return ApiKey(id_, user_id, "ci", "ab" * 32, frozenset({Scope.READ, Scope.WRITE}), clock.now())


def _session(clock: FakeClock, user_id: str, id_: str = "s1", ttl_s: float = 3600) -> Session:
    now = clock.now()
    return Session(id_, user_id, "hash-0", now, now + timedelta(seconds=ttl_s))


# users ---------------------------------------------------------------------------------------------


async def test_create_user_with_personal_project(store: AccessStore, clock: FakeClock) -> None:
    user = await store.create_user("  Ada@Example.COM ", "Ada", "h", InstanceRole.OWNER)
    assert (user.email, user.name, user.role, user.password_hash) == ("ada@example.com", "Ada", "owner", "h")
    assert user.created_at == user.updated_at == clock.now()
    assert not user.disabled and user.is_instance_admin
    assert await store.get_user(user.id) == user
    assert await store.user_by_email("ADA@example.com") == user
    assert await store.user_by_email("bob@example.com") is None
    assert await store.get_user("nobody") is None
    project = await store.get_project(user.personal_project_id)
    assert project is not None
    assert (project.name, project.kind, project.owner_id) == ("Ada", ProjectKind.PERSONAL, user.id)
    assert await store.members(project.id) == [Member(project.id, user.id, ProjectRole.ADMIN)]
    assert await store.memberships(user.id) == {project.id: ProjectRole.ADMIN}


async def test_personal_project_named_after_the_email_without_a_name(store: AccessStore) -> None:
    user = await store.create_user("x@example.com", "", "h", InstanceRole.MEMBER)
    project = await store.get_project(user.personal_project_id)
    assert project is not None and project.name == "x@example.com"


async def test_duplicate_email_is_a_conflict_whatever_its_case(store: AccessStore) -> None:
    await _user(store, "ada@example.com")
    with pytest.raises(Conflict, match="e-mail"):
        await _user(store, "ADA@Example.com")
    assert await store.count_users() == 1
    # nothing of the refused user was kept (one transaction)
    assert len(await store.projects()) == 1


async def test_a_second_owner_is_a_conflict(store: AccessStore) -> None:
    await _user(store, "ada@example.com", InstanceRole.OWNER)
    with pytest.raises(Conflict, match="owner"):
        await _user(store, "bob@example.com", InstanceRole.OWNER)
    assert await store.count_users() == 1
    assert len(await store.projects()) == 1
    await _user(store, "bob@example.com", InstanceRole.ADMIN)
    assert await store.count_users() == 2


async def test_racing_owner_creates_one_wins(store: AccessStore, second: AccessStore) -> None:
    results = await asyncio.gather(
        *(
            handle.create_user(f"owner{i}@example.com", "O", "h", InstanceRole.OWNER)
            for i, handle in enumerate([store, second, store, second])
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, User) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, User))
    assert [u.role for u in await store.users()] == [InstanceRole.OWNER]


async def test_racing_creates_of_one_email_one_wins(store: AccessStore, second: AccessStore) -> None:
    results = await asyncio.gather(
        *(
            h.create_user(e, "A", "h", InstanceRole.MEMBER)
            for h, e in [(store, "a@x.io"), (second, "A@x.io")]
        ),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "User"]
    assert await store.count_users() == 1


async def test_users_oldest_first_and_count(store: AccessStore, clock: FakeClock) -> None:
    assert await store.users() == [] and await store.count_users() == 0
    first = await _user(store, "b@example.com")
    clock.advance(1)
    second = await _user(store, "a@example.com")
    assert [u.id for u in await store.users()] == [first.id, second.id]
    assert await store.count_users() == 2


async def test_update_user(store: AccessStore, clock: FakeClock) -> None:
    user = await _user(store, "ada@example.com")
    clock.advance(5)
    updated = await store.update_user(
        user.id, name="Ada L.", role=InstanceRole.ADMIN, password_hash="new", disabled=True
    )
    assert (updated.name, updated.role, updated.password_hash, updated.disabled) == (
        "Ada L.",
        InstanceRole.ADMIN,
        "new",
        True,
    )
    assert updated.updated_at == clock.now() and updated.created_at == user.created_at
    assert await store.get_user(user.id) == updated
    # fields not given are kept
    again = await store.update_user(user.id, disabled=False)
    assert (again.name, again.role, again.password_hash, again.disabled) == ("Ada L.", "admin", "new", False)
    with pytest.raises(NotFound):
        await store.update_user("nobody", name="x")


async def test_update_user_keeps_exactly_one_owner(store: AccessStore) -> None:
    owner = await _user(store, "owner@example.com", InstanceRole.OWNER)
    member = await _user(store, "member@example.com")
    with pytest.raises(Conflict):
        await store.update_user(member.id, role=InstanceRole.OWNER)
    with pytest.raises(Conflict):
        await store.update_user(owner.id, role=InstanceRole.ADMIN)
    # the same role again is no change
    assert (await store.update_user(owner.id, role=InstanceRole.OWNER, name="O")).name == "O"
    assert {u.role for u in await store.users()} == {InstanceRole.OWNER, InstanceRole.MEMBER}


async def test_delete_user_cascades(store: AccessStore, clock: FakeClock) -> None:
    user = await _user(store, "ada@example.com")
    other = await _user(store, "bob@example.com")
    team = await store.create_project("Team")
    await store.set_member(team.id, user.id, ProjectRole.EDITOR)
    await store.set_member(team.id, other.id, ProjectRole.VIEWER)
    await store.set_shares(WF, "wf-1", [user.personal_project_id])
    await store.create_api_key(_key(clock, user.id))
    await store.create_session(_session(clock, user.id))
    assert await store.delete_user(user.id)
    assert await store.get_user(user.id) is None
    assert await store.user_by_email("ada@example.com") is None
    assert await store.get_project(user.personal_project_id) is None
    assert await store.members(team.id) == [Member(team.id, other.id, ProjectRole.VIEWER)]
    assert await store.memberships(user.id) == {}
    assert await store.shares_of(WF, "wf-1") == frozenset()
    assert await store.get_api_key("k1") is None and await store.api_keys(user.id) == []
    assert await store.get_session("s1") is None
    assert not await store.delete_user(user.id)
    # the e-mail is free again
    await _user(store, "ada@example.com")


async def test_delete_user_refused_while_the_personal_project_owns_something(
    store: AccessStore, clock: FakeClock
) -> None:
    user = await _user(store, "ada@example.com")
    await store.set_owner(WF, "wf-1", user.personal_project_id)
    with pytest.raises(Conflict):
        await store.delete_user(user.id)
    assert await store.get_user(user.id) == user
    assert await store.memberships(user.id) == {user.personal_project_id: ProjectRole.ADMIN}
    await store.forget(WF, "wf-1")
    await store.create_credential(_credential(clock, user.personal_project_id))
    with pytest.raises(Conflict):
        await store.delete_user(user.id)
    await store.delete_credential("cred-1")
    assert await store.delete_user(user.id)


# projects ------------------------------------------------------------------------------------------


async def test_projects(store: AccessStore, clock: FakeClock) -> None:
    a = await store.create_project("Alpha")
    clock.advance(1)
    b = await store.create_project("Beta", ProjectKind.TEAM)
    assert (a.name, a.kind, a.owner_id, a.created_at) == (
        "Alpha",
        ProjectKind.TEAM,
        None,
        clock.now() - timedelta(seconds=1),
    )
    assert await store.get_project(a.id) == a
    assert await store.get_project("nope") is None
    assert await store.projects() == [a, b]
    assert await store.projects([b.id, "nope"]) == [b]
    assert await store.projects([]) == []
    renamed = await store.rename_project(a.id, "Alpha 2")
    assert renamed == dataclasses.replace(a, name="Alpha 2")
    assert await store.get_project(a.id) == renamed
    with pytest.raises(NotFound):
        await store.rename_project("nope", "x")


async def test_members(store: AccessStore) -> None:
    ada = await _user(store, "ada@example.com")
    bob = await _user(store, "bob@example.com")
    team = await store.create_project("Team")
    assert await store.members(team.id) == []
    await store.set_member(team.id, ada.id, ProjectRole.VIEWER)
    assert await store.set_member(team.id, ada.id, ProjectRole.EDITOR) == Member(
        team.id, ada.id, ProjectRole.EDITOR
    )
    await store.set_member(team.id, bob.id, ProjectRole.ADMIN)
    assert await store.members(team.id) == sorted(
        [Member(team.id, ada.id, ProjectRole.EDITOR), Member(team.id, bob.id, ProjectRole.ADMIN)],
        key=lambda m: m.user_id,
    )
    assert await store.memberships(ada.id) == {
        ada.personal_project_id: ProjectRole.ADMIN,
        team.id: ProjectRole.EDITOR,
    }
    assert await store.remove_member(team.id, ada.id)
    assert not await store.remove_member(team.id, ada.id)
    assert await store.memberships(ada.id) == {ada.personal_project_id: ProjectRole.ADMIN}
    with pytest.raises(NotFound):
        await store.set_member("nope", ada.id, ProjectRole.VIEWER)
    with pytest.raises(NotFound):
        await store.set_member(team.id, "nobody", ProjectRole.VIEWER)


async def test_delete_project(store: AccessStore, clock: FakeClock) -> None:
    ada = await _user(store, "ada@example.com")
    team = await store.create_project("Team")
    other = await store.create_project("Other")
    await store.set_member(team.id, ada.id, ProjectRole.EDITOR)
    await store.set_shares(WF, "wf-1", [team.id, other.id])
    await store.set_owner(WF, "wf-2", team.id)
    with pytest.raises(Conflict):  # it owns a workflow
        await store.delete_project(team.id)
    assert await store.get_project(team.id) is not None
    await store.set_owner(WF, "wf-2", other.id)
    await store.create_credential(_credential(clock, team.id))
    with pytest.raises(Conflict):  # it owns a credential
        await store.delete_project(team.id)
    await store.set_owner(CRED, "cred-1", other.id)
    assert await store.delete_project(team.id)
    assert await store.get_project(team.id) is None
    assert await store.memberships(ada.id) == {ada.personal_project_id: ProjectRole.ADMIN}
    assert await store.shares_of(WF, "wf-1") == frozenset({other.id})
    assert not await store.delete_project(team.id)


# ownership and shares ------------------------------------------------------------------------------


async def test_owners(store: AccessStore) -> None:
    a = await store.create_project("A")
    b = await store.create_project("B")
    assert await store.owner_of(WF, "wf-1") is None
    await store.set_owner(WF, "wf-1", a.id)
    await store.set_owner(WF, "wf-2", a.id)
    assert await store.owner_of(WF, "wf-1") == a.id
    await store.set_owner(WF, "wf-1", b.id)  # a move
    assert await store.owners_of(WF, ["wf-1", "wf-2", "wf-3"]) == {"wf-1": b.id, "wf-2": a.id}
    assert await store.owners_of(WF, []) == {}
    # kinds are kept apart
    assert await store.owner_of(CRED, "wf-1") is None
    assert await store.owned_count(a.id) == 1 and await store.owned_count(b.id) == 1
    with pytest.raises(NotFound):
        await store.set_owner(WF, "wf-1", "nope")
    assert await store.owner_of(WF, "wf-1") == b.id


async def test_owners_of_many(store: AccessStore) -> None:
    a = await store.create_project("A")
    ids = [f"wf-{i}" for i in range(1200)]
    assert await store.adopt_unowned(WF, ids, a.id) == 1200
    owners = await store.owners_of(WF, [*ids, "other"])
    assert len(owners) == 1200 and set(owners.values()) == {a.id}
    assert await store.visible(WF, [a.id]) == set(ids)


async def test_shares_and_visible(store: AccessStore, clock: FakeClock) -> None:
    a = await store.create_project("A")
    b = await store.create_project("B")
    c = await store.create_project("C")
    await store.set_owner(WF, "wf-a", a.id)
    await store.set_owner(WF, "wf-b", b.id)
    await store.set_shares(WF, "wf-a", [b.id, c.id, b.id])
    assert await store.shares_of(WF, "wf-a") == frozenset({b.id, c.id})
    await store.set_shares(WF, "wf-a", [c.id])  # replaces
    assert await store.shares_of(WF, "wf-a") == frozenset({c.id})
    assert await store.visible(WF, [a.id]) == {"wf-a"}
    assert await store.visible(WF, [b.id]) == {"wf-b"}
    assert await store.visible(WF, [c.id]) == {"wf-a"}
    assert await store.visible(WF, [b.id, c.id]) == {"wf-a", "wf-b"}
    assert await store.visible(WF, []) == set()
    assert await store.visible(CRED, [a.id, b.id, c.id]) == set()
    with pytest.raises(NotFound):
        await store.set_shares(WF, "wf-a", [b.id, "nope"])
    assert await store.shares_of(WF, "wf-a") == frozenset({c.id})  # unchanged
    await store.set_shares(WF, "wf-a", [])
    assert await store.shares_of(WF, "wf-a") == frozenset()
    # credentials: owned through their project column, shared like workflows
    await store.create_credential(_credential(clock, a.id))
    await store.set_shares(CRED, "cred-1", [b.id])
    assert await store.visible(CRED, [a.id]) == {"cred-1"}
    assert await store.visible(CRED, [b.id]) == {"cred-1"}
    assert await store.visible(CRED, [c.id]) == set()
    assert await store.shares_of(WF, "cred-1") == frozenset()


async def test_owned_count_and_forget(store: AccessStore, clock: FakeClock) -> None:
    a = await store.create_project("A")
    b = await store.create_project("B")
    assert await store.owned_count(a.id) == 0
    await store.set_owner(WF, "wf-1", a.id)
    await store.set_owner(WF, "wf-2", a.id)
    await store.create_credential(_credential(clock, a.id))
    await store.set_shares(WF, "wf-1", [b.id])
    assert await store.owned_count(a.id) == 3
    assert await store.owned_count(b.id) == 0  # a share is not ownership
    await store.forget(WF, "wf-1")
    await store.forget(WF, "never-owned")
    assert await store.owner_of(WF, "wf-1") is None
    assert await store.shares_of(WF, "wf-1") == frozenset()
    assert await store.visible(WF, [a.id, b.id]) == {"wf-2"}
    assert await store.owned_count(a.id) == 2


async def test_adopt_unowned(store: AccessStore, clock: FakeClock) -> None:
    a = await store.create_project("A")
    b = await store.create_project("B")
    await store.set_owner(WF, "wf-1", b.id)
    assert await store.adopt_unowned(WF, ["wf-1", "wf-2", "wf-3", "wf-2"], a.id) == 2
    assert await store.owners_of(WF, ["wf-1", "wf-2", "wf-3"]) == {"wf-1": b.id, "wf-2": a.id, "wf-3": a.id}
    assert await store.adopt_unowned(WF, ["wf-2"], a.id) == 0
    assert await store.adopt_unowned(WF, [], a.id) == 0
    # a credential always has its project: nothing to adopt
    await store.create_credential(_credential(clock, b.id))
    assert await store.adopt_unowned(CRED, ["cred-1", "cred-2"], a.id) == 0
    assert await store.owner_of(CRED, "cred-1") == b.id
    with pytest.raises(NotFound):
        await store.adopt_unowned(WF, ["wf-9"], "nope")
    assert await store.owner_of(WF, "wf-9") is None


# credentials ---------------------------------------------------------------------------------------


async def test_credentials_crud(store: AccessStore, clock: FakeClock) -> None:
    a = await store.create_project("A")
    b = await store.create_project("B")
    first = await store.create_credential(_credential(clock, a.id, "Zeta", "c-1"))
    second = await store.create_credential(_credential(clock, a.id, "Alpha", "c-2"))
    slack = dataclasses.replace(_credential(clock, b.id, "Slack", "c-3"), type="slackApi")
    await store.create_credential(slack)
    assert await store.get_credential("c-1") == first
    assert await store.get_credential("nope") is None
    assert [c.id for c in await store.credentials()] == ["c-2", "c-3", "c-1"]  # by name
    assert await store.credentials([a.id]) == [second, first]
    assert await store.credentials([a.id, b.id], type_="slackApi") == [slack]
    assert await store.credentials(type_="githubApi") == [second, first]
    assert await store.credentials([]) == []
    with pytest.raises(Conflict):
        await store.create_credential(_credential(clock, b.id, "Again", "c-1"))
    with pytest.raises(NotFound):
        await store.create_credential(_credential(clock, "nope", "X", "c-9"))
    clock.advance(10)
    renamed = await store.update_credential("c-1", name="Zeta 2")
    assert renamed == dataclasses.replace(first, name="Zeta 2", updated_at=clock.now())
    resealed = await store.update_credential("c-1", sealed="v1:other")
    assert (resealed.name, resealed.sealed) == ("Zeta 2", "v1:other")
    assert await store.get_credential("c-1") == resealed
    with pytest.raises(NotFound):
        await store.update_credential("nope", name="x")
    await store.set_shares(CRED, "c-1", [b.id])
    assert await store.delete_credential("c-1")
    assert await store.get_credential("c-1") is None
    assert await store.shares_of(CRED, "c-1") == frozenset()
    assert not await store.delete_credential("c-1")


async def test_set_owner_moves_a_credential(store: AccessStore, clock: FakeClock) -> None:
    a = await store.create_project("A")
    b = await store.create_project("B")
    await store.create_credential(_credential(clock, a.id))
    await store.set_owner(CRED, "cred-1", b.id)
    assert await store.owner_of(CRED, "cred-1") == b.id
    assert await store.owners_of(CRED, ["cred-1", "nope"]) == {"cred-1": b.id}
    stored = await store.get_credential("cred-1")
    assert stored is not None and stored.project_id == b.id
    assert await store.credentials([a.id]) == []
    assert await store.owned_count(a.id) == 0 and await store.owned_count(b.id) == 1
    with pytest.raises(NotFound):
        await store.set_owner(CRED, "nope", b.id)
    with pytest.raises(NotFound):
        await store.set_owner(CRED, "cred-1", "nope")


# API keys ------------------------------------------------------------------------------------------


async def test_api_keys(store: AccessStore, clock: FakeClock) -> None:
    ada = await _user(store, "ada@example.com")
    bob = await _user(store, "bob@example.com")
    k1 = await store.create_api_key(_key(clock, ada.id, "k1"))
    clock.advance(1)
    expiring = dataclasses.replace(
        _key(clock, bob.id, "k2"), scopes=frozenset({Scope.ADMIN}), expires_at=clock.now() + timedelta(days=1)
    )
    await store.create_api_key(expiring)
    clock.advance(1)
    k3 = await store.create_api_key(_key(clock, ada.id, "k3"))
    assert await store.get_api_key("k1") == k1
    assert await store.get_api_key("k2") == expiring
    assert await store.get_api_key("nope") is None
    assert await store.api_keys(ada.id) == [k1, k3]
    assert [k.id for k in await store.api_keys()] == ["k1", "k2", "k3"]
    assert await store.api_keys("nobody") == []
    with pytest.raises(Conflict):
        await store.create_api_key(_key(clock, bob.id, "k1"))
    with pytest.raises(NotFound):
        await store.create_api_key(_key(clock, "nobody", "k9"))
    at = clock.now() + timedelta(minutes=1)
    assert await store.revoke_api_key("k1", at)
    assert not await store.revoke_api_key("k1", at + timedelta(minutes=1))
    assert not await store.revoke_api_key("nope", at)
    assert await store.get_api_key("k1") == dataclasses.replace(k1, revoked_at=at)


# sessions ------------------------------------------------------------------------------------------


async def test_sessions_create_and_rotate(store: AccessStore, clock: FakeClock) -> None:
    ada = await _user(store, "ada@example.com")
    session = await store.create_session(_session(clock, ada.id))
    assert await store.get_session("s1") == session
    assert await store.get_session("nope") is None
    with pytest.raises(Conflict):
        await store.create_session(_session(clock, ada.id))
    with pytest.raises(NotFound):
        await store.create_session(_session(clock, "nobody", "s9"))
    later = clock.now() + timedelta(hours=2)
    assert await store.rotate_session("s1", "hash-0", "hash-1", later)
    assert await store.get_session("s1") == dataclasses.replace(
        session, refresh_hash="hash-1", expires_at=later
    )
    # the old hash no longer works
    assert not await store.rotate_session("s1", "hash-0", "hash-2", later)
    assert not await store.rotate_session("nope", "hash-1", "hash-2", later)
    assert (await store.get_session("s1")).refresh_hash == "hash-1"  # type: ignore[union-attr]


async def test_racing_rotations_exactly_one_wins(
    store: AccessStore, second: AccessStore, clock: FakeClock
) -> None:
    ada = await _user(store, "ada@example.com")
    await store.create_session(_session(clock, ada.id))
    until = clock.now() + timedelta(hours=1)
    results = await asyncio.gather(
        *(h.rotate_session("s1", "hash-0", f"new-{i}", until) for i, h in enumerate([store, second] * 3))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert (await store.get_session("s1")).refresh_hash == f"new-{winner}"  # type: ignore[union-attr]


async def test_rotate_refused_on_revoked_or_expired(store: AccessStore, clock: FakeClock) -> None:
    ada = await _user(store, "ada@example.com")
    await store.create_session(_session(clock, ada.id, "s1"))
    await store.create_session(_session(clock, ada.id, "s2", ttl_s=60))
    until = clock.now() + timedelta(hours=1)
    assert await store.revoke_session("s1", clock.now())
    assert not await store.rotate_session("s1", "hash-0", "hash-1", until)
    clock.advance(60)  # s2 expires now: expires_at is not after now
    assert not await store.rotate_session("s2", "hash-0", "hash-1", until)
    assert (await store.get_session("s2")).refresh_hash == "hash-0"  # type: ignore[union-attr]


async def test_revoke_sessions(store: AccessStore, clock: FakeClock) -> None:
    ada = await _user(store, "ada@example.com")
    bob = await _user(store, "bob@example.com")
    for sid in ("a1", "a2", "a3"):
        await store.create_session(_session(clock, ada.id, sid))
    await store.create_session(_session(clock, bob.id, "b1"))
    at = clock.now()
    assert await store.revoke_session("a1", at)
    assert not await store.revoke_session("a1", at + timedelta(seconds=1))
    assert not await store.revoke_session("nope", at)
    assert (await store.get_session("a1")).revoked_at == at  # type: ignore[union-attr]
    later = at + timedelta(minutes=5)
    assert await store.revoke_sessions(ada.id, later, keep="a3") == 1
    assert (await store.get_session("a1")).revoked_at == at  # type: ignore[union-attr]
    assert (await store.get_session("a2")).revoked_at == later  # type: ignore[union-attr]
    assert (await store.get_session("a3")).revoked_at is None  # type: ignore[union-attr]
    assert (await store.get_session("b1")).revoked_at is None  # type: ignore[union-attr]
    assert await store.revoke_sessions(ada.id, later) == 1
    assert await store.revoke_sessions(ada.id, later) == 0


# audit ---------------------------------------------------------------------------------------------


async def _audit_some(store: AccessStore, clock: FakeClock) -> list[AuditEntry]:
    spec = [
        ("auth.login", "u1", None),
        ("credential.created", "u1", "c1"),
        ("credential.read_data", "u2", "c1"),
        ("workflow.created", "u2", "w1"),
        ("credential_x.odd", "u1", "c2"),
        ("auth.login_failed", None, None),
    ]
    out: list[AuditEntry] = []
    for action, actor_id, target in spec:
        clock.advance(60)
        entry = AuditEntry(
            at=clock.now(),
            action=action,
            actor_id=actor_id,
            actor=f"{actor_id}@example.com" if actor_id else "",
            target_kind=target and ("credential" if target.startswith("c") else "workflow"),
            target_id=target,
            ip="127.0.0.1",
            detail={"n": len(out), "nested": {"ok": True}},
        )
        out.append(await store.audit(entry))
    return out


async def test_audit_append_and_read(store: AccessStore, clock: FakeClock) -> None:
    entries = await _audit_some(store, clock)
    ids = [e.id for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > 0
    assert entries[1].action == "credential.created" and entries[1].detail == {"n": 1, "nested": {"ok": True}}
    page = await store.audit_log(AuditQuery())
    assert list(page.items) == entries[::-1]
    assert page.next_cursor is None


async def test_audit_filters(store: AccessStore, clock: FakeClock) -> None:
    entries = await _audit_some(store, clock)

    async def actions(**query: object) -> list[str]:
        return [e.action for e in (await store.audit_log(AuditQuery(**query))).items]  # type: ignore[arg-type]

    assert await actions(action="auth.login") == ["auth.login"]
    # a prefix ends in "."; "credential_x" is not under "credential."
    assert await actions(action="credential.") == ["credential.read_data", "credential.created"]
    assert await actions(action="Credential.") == []
    assert await actions(action="credential") == []
    assert await actions(actor_id="u1") == ["credential_x.odd", "credential.created", "auth.login"]
    assert await actions(target_id="c1") == ["credential.read_data", "credential.created"]
    assert await actions(action="credential.", actor_id="u2", target_id="c1") == ["credential.read_data"]
    # since is inclusive, until exclusive
    assert await actions(since=entries[3].at) == ["auth.login_failed", "credential_x.odd", "workflow.created"]
    assert await actions(until=entries[1].at) == ["auth.login"]
    assert await actions(since=entries[1].at, until=entries[3].at) == [
        "credential.read_data",
        "credential.created",
    ]


async def test_audit_paging(store: AccessStore, clock: FakeClock) -> None:
    entries = await _audit_some(store, clock)
    seen: list[AuditEntry] = []
    cursor = None
    while True:
        page = await store.audit_log(AuditQuery(limit=4, cursor=cursor))
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == entries[::-1]
    first = await store.audit_log(AuditQuery(limit=1, action="credential."))
    assert [e.action for e in first.items] == ["credential.read_data"]
    rest = await store.audit_log(AuditQuery(limit=1, action="credential.", cursor=first.next_cursor))
    assert [e.action for e in rest.items] == ["credential.created"] and rest.next_cursor is None
    # a full last page has no next cursor
    exact = await store.audit_log(AuditQuery(limit=len(entries)))
    assert len(exact.items) == len(entries) and exact.next_cursor is None
    for bad in ("x", "-1"):
        with pytest.raises(InputInvalid):
            await store.audit_log(AuditQuery(cursor=bad))
    with pytest.raises(InputInvalid):
        await store.audit_log(AuditQuery(limit=0))


async def test_audit_keeps_entries_of_deleted_users(store: AccessStore, clock: FakeClock) -> None:
    ada = await _user(store, "ada@example.com")
    await store.audit(AuditEntry(at=clock.now(), action="user.created", actor_id=ada.id, actor=ada.email))
    await store.delete_user(ada.id)
    page = await store.audit_log(AuditQuery(actor_id=ada.id))
    assert [e.actor for e in page.items] == ["ada@example.com"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def test_data_survives_reopening(db_url: str | None, clock: FakeClock) -> None:
    """Only the SQL stores keep anything across a reopen (memory keeps nothing)."""
    assert db_url is not None
    first = await open_access_store(db_url, clock=clock)
    try:
        user = await _user(first, "ada@example.com", InstanceRole.OWNER)
        await first.create_api_key(_key(clock, user.id))
    finally:
        await first.close()
    again = await open_access_store(db_url, clock=clock)
    try:
        assert await again.get_user(user.id) == user
        assert await again.get_api_key("k1") == _key(clock, user.id)
    finally:
        await again.close()
