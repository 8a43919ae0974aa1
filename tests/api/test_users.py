"""``/users`` and ``/api-keys``: who may manage whom, deletion with transfer, keys shown once,
scopes, expiry and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relayflow.access.model import AuditQuery, InstanceRole, ObjectKind, Scope, StoredCredential, User
from relayflow.api import ApiServices
from relayflow.engine.memory import FakeClock
from tests.api.conftest import API, OWNER_EMAIL, assert_problem
from tests.api.test_auth import clock  # noqa: F401  (autouse: the access store, memory and SQL)

PASSWORD = "member-password-1"


async def make_user(services: ApiServices, email: str, role: InstanceRole = InstanceRole.MEMBER) -> User:
    return await services.access.create_user(email, email.split("@")[0], PASSWORD, role)


async def key_of(services: ApiServices, user: User, *scopes: Scope) -> dict[str, str]:
    issued = await services.access.issue_api_key(user, "t", scopes or tuple(Scope))
    return {"X-API-Key": issued.token}


async def owner(services: ApiServices) -> User:
    user = await services.access.store.user_by_email(OWNER_EMAIL)
    assert user is not None
    return user


async def actions(services: ApiServices, prefix: str) -> list[str]:
    page = await services.access.store.audit_log(AuditQuery(action=prefix))
    return [e.action for e in page.items]


# -- users ------------------------------------------------------------------------------------------


async def test_owner_creates_lists_and_reads_users(client: httpx.AsyncClient, services: ApiServices) -> None:
    body = {"email": "Ann@Example.com", "name": "Ann", "password": PASSWORD, "role": "admin"}
    created = await client.post(f"{API}/users", json=body)
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["email"] == "ann@example.com" and ann["role"] == "admin" and not ann["disabled"]
    assert "password" not in created.text and "argon2" not in created.text
    listed = await client.get(f"{API}/users")
    assert sorted(u["email"] for u in listed.json()["data"]) == ["ann@example.com", OWNER_EMAIL]
    assert (await client.get(f"{API}/users/{ann['id']}")).json() == ann
    assert_problem(await client.get(f"{API}/users/nope"), 404, "not_found")
    assert_problem(await client.post(f"{API}/users", json=body), 409, "conflict")
    as_owner = await client.post(f"{API}/users", json={**body, "email": "b@example.com", "role": "owner"})
    assert_problem(as_owner, 422, "input_invalid")
    assert await actions(services, "user.") == ["user.created"]


async def test_members_and_narrow_keys_cannot_manage_users(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    mem = await make_user(services, "m@example.com")
    adm = await make_user(services, "a@example.com", InstanceRole.ADMIN)
    member_key = await key_of(services, mem)
    admin_write_key = await key_of(services, adm, Scope.READ, Scope.WRITE)
    for headers in (member_key, admin_write_key):
        assert_problem(await client.get(f"{API}/users", headers=headers), 403, "forbidden")
        response = await client.patch(f"{API}/users/{mem.id}", json={"name": "x"}, headers=headers)
        assert_problem(response, 403, "forbidden")
    admin_key = await key_of(services, adm)
    assert (await client.get(f"{API}/users", headers=admin_key)).status_code == 200


async def test_patch_rules_for_the_owner_and_oneself(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    boss = await owner(services)
    adm = await make_user(services, "a@example.com", InstanceRole.ADMIN)
    admin_key = await key_of(services, adm)
    response = await client.patch(f"{API}/users/{boss.id}", json={"name": "Mine"}, headers=admin_key)
    assert_problem(response, 403, "forbidden")
    assert_problem(await client.patch(f"{API}/users/{boss.id}", json={"disabled": True}), 409, "conflict")
    assert_problem(await client.patch(f"{API}/users/{boss.id}", json={"role": "member"}), 409, "conflict")
    assert_problem(await client.patch(f"{API}/users/{adm.id}", json={"role": "owner"}), 409, "conflict")
    response = await client.patch(f"{API}/users/{adm.id}", json={"disabled": True}, headers=admin_key)
    assert_problem(response, 422, "input_invalid")
    renamed = await client.patch(f"{API}/users/{boss.id}", json={"name": "The Boss"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "The Boss"


async def test_role_change_takes_effect_at_once_and_is_audited(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    user = await make_user(services, "m@example.com")
    headers = await key_of(services, user)
    assert (await client.get(f"{API}/users", headers=headers)).status_code == 403
    promoted = await client.patch(f"{API}/users/{user.id}", json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert (await client.get(f"{API}/users", headers=headers)).status_code == 200
    assert (await client.patch(f"{API}/users/{user.id}", json={"role": "member"})).status_code == 200
    assert (await client.get(f"{API}/users", headers=headers)).status_code == 403
    page = await services.access.store.audit_log(AuditQuery(action="user.role_changed", target_id=user.id))
    assert [dict(e.detail) for e in page.items] == [
        {"from": "admin", "to": "member"},
        {"from": "member", "to": "admin"},
    ]


async def test_disabling_stops_keys_and_enabling_restores_them(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    user = await make_user(services, "m@example.com")
    headers = await key_of(services, user)
    assert (await client.patch(f"{API}/users/{user.id}", json={"disabled": True})).json()["disabled"]
    assert_problem(await client.get(f"{API}/me", headers=headers), 401, "unauthorized")
    assert (await client.patch(f"{API}/users/{user.id}", json={"disabled": False})).status_code == 200
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200


async def test_delete_needs_a_transfer_when_the_personal_project_owns_things(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    store = services.access.store
    user = await make_user(services, "m@example.com")
    personal = user.personal_project_id
    await store.set_owner(ObjectKind.WORKFLOW, "wf-1", personal)
    now = datetime.now(UTC)
    await store.create_credential(
        StoredCredential("cred-1", "c", "httpBasicAuth", personal, "sealed", now, now)
    )
    team = await store.create_project("Team")
    assert_problem(await client.delete(f"{API}/users/{user.id}"), 409, "conflict")
    response = await client.delete(f"{API}/users/{user.id}", params={"transferTo": personal})
    assert_problem(response, 422, "input_invalid")
    response = await client.delete(f"{API}/users/{user.id}", params={"transferTo": "nope"})
    assert_problem(response, 422, "input_invalid")
    assert await store.get_user(user.id) is not None
    response = await client.delete(f"{API}/users/{user.id}", params={"transferTo": team.id})
    assert response.status_code == 204, response.text
    assert await store.get_user(user.id) is None
    assert await store.owner_of(ObjectKind.WORKFLOW, "wf-1") == team.id
    assert await store.owner_of(ObjectKind.CREDENTIAL, "cred-1") == team.id
    page = await store.audit_log(AuditQuery(action="user.deleted"))
    assert dict(page.items[0].detail)["workflows"] == 1
    assert_problem(await client.delete(f"{API}/users/{user.id}"), 404, "not_found")


async def test_delete_plain_user_and_refusals(client: httpx.AsyncClient, services: ApiServices) -> None:
    user = await make_user(services, "m@example.com")
    headers = await key_of(services, user)
    boss = await owner(services)
    assert_problem(await client.delete(f"{API}/users/{boss.id}"), 409, "conflict")
    adm = await make_user(services, "a@example.com", InstanceRole.ADMIN)
    response = await client.delete(f"{API}/users/{adm.id}", headers=await key_of(services, adm))
    assert_problem(response, 422, "input_invalid")
    assert (await client.delete(f"{API}/users/{user.id}")).status_code == 204
    assert_problem(await client.get(f"{API}/me", headers=headers), 401, "unauthorized")


# -- API keys ---------------------------------------------------------------------------------------


async def test_key_shown_once_and_listed_without_secret(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    user = await make_user(services, "m@example.com")
    headers = await key_of(services, user)
    response = await client.post(f"{API}/api-keys", json={"name": "ci", "scopes": ["read"]}, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["key"].startswith(created["prefix"]) and created["prefix"] == f"rfk_{created['id']}_"
    assert created["scopes"] == ["read"] and created["userId"] == user.id
    listed = await client.get(f"{API}/api-keys", headers=headers)
    assert created["key"] not in listed.text
    entries = {k["id"]: k for k in listed.json()["data"]}
    assert "key" not in entries[created["id"]]
    assert entries[created["id"]]["name"] == "ci"
    # the new key works, for reading only
    read = {"X-API-Key": created["key"]}
    assert (await client.get(f"{API}/workflows", headers=read)).status_code == 200
    assert_problem(await client.post(f"{API}/workflows", json={}, headers=read), 403, "forbidden")
    assert await actions(services, "apikey.") == ["apikey.created"]


async def test_scopes_cannot_exceed_the_creator(client: httpx.AsyncClient, services: ApiServices) -> None:
    user = await make_user(services, "m@example.com")
    headers = await key_of(services, user)
    response = await client.post(f"{API}/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=headers)
    assert_problem(response, 403, "forbidden")
    writer = await key_of(services, (await owner(services)), Scope.READ, Scope.WRITE)
    response = await client.post(f"{API}/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=writer)
    assert_problem(response, 403, "forbidden")
    ok = await client.post(f"{API}/api-keys", json={"name": "x", "scopes": ["admin", "read"]})
    assert ok.status_code == 201
    assert (await client.post(f"{API}/api-keys", json={"name": "x", "scopes": []})).status_code == 422
    response = await client.post(f"{API}/api-keys", json={"name": "x", "scopes": ["root"]})
    assert response.status_code == 422


async def test_key_expiry(client: httpx.AsyncClient, services: ApiServices) -> None:
    fake = services.access.clock
    assert isinstance(fake, FakeClock)
    expires = (fake.now() + timedelta(hours=1)).isoformat()
    past = (fake.now() - timedelta(hours=1)).isoformat()
    body = {"name": "short", "scopes": ["read"], "expiresAt": past}
    assert_problem(await client.post(f"{API}/api-keys", json=body), 422, "input_invalid")
    created = await client.post(f"{API}/api-keys", json={**body, "expiresAt": expires})
    assert created.status_code == 201, created.text
    headers = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
    fake.advance(3601)
    response = await client.get(f"{API}/me", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert "expired" in response.json()["detail"]


async def test_revocation_is_immediate(client: httpx.AsyncClient, services: ApiServices) -> None:
    created = (await client.post(f"{API}/api-keys", json={"name": "k", "scopes": ["read", "write"]})).json()
    headers = {"X-API-Key": created["key"]}
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200  # now cached
    assert (await client.delete(f"{API}/api-keys/{created['id']}")).status_code == 204
    assert_problem(await client.get(f"{API}/me", headers=headers), 401, "unauthorized")
    listed = (await client.get(f"{API}/api-keys")).json()["data"]
    assert next(k for k in listed if k["id"] == created["id"])["revokedAt"] is not None
    assert "apikey.revoked" in await actions(services, "apikey.")


async def test_only_admins_see_and_revoke_other_users_keys(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    one = await make_user(services, "one@example.com")
    two = await make_user(services, "two@example.com")
    one_key = await key_of(services, one)
    two_issued = await services.access.issue_api_key(two, "two's")
    response = await client.get(f"{API}/api-keys", params={"userId": two.id}, headers=one_key)
    assert_problem(response, 403, "forbidden")
    response = await client.delete(f"{API}/api-keys/{two_issued.key.id}", headers=one_key)
    assert_problem(response, 404, "not_found")
    mine = await client.get(f"{API}/api-keys", params={"userId": one.id}, headers=one_key)
    assert mine.status_code == 200 and len(mine.json()["data"]) == 1
    seen = await client.get(f"{API}/api-keys", params={"userId": two.id})
    assert [k["id"] for k in seen.json()["data"]] == [two_issued.key.id]
    assert (await client.delete(f"{API}/api-keys/{two_issued.key.id}")).status_code == 204
    assert (await client.get(f"{API}/me", headers={"X-API-Key": two_issued.token})).status_code == 401
    assert_problem(await client.delete(f"{API}/api-keys/nope"), 404, "not_found")


@pytest.mark.parametrize("path", ["/users", "/api-keys", "/audit", "/me"])
async def test_routes_need_authentication(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"{API}{path}", headers={"X-API-Key": ""})
    assert_problem(response, 401, "unauthorized")
