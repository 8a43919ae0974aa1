"""``GET /audit``: what logins and user and key changes record, the filters, paging, and who may
read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from relayflow.access.model import InstanceRole, Scope
from relayflow.api import ApiServices, create_app
from tests.api.conftest import API, assert_problem
from tests.api.test_auth import clock  # noqa: F401  (autouse: the access store, memory and SQL)

PASSWORD = "member-password-1"


@pytest.fixture
async def anon(services: ApiServices) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as c:
        yield c


async def test_logins_and_changes_are_recorded(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, services: ApiServices
) -> None:
    user = await services.access.create_user("m@example.com", "M", PASSWORD)
    await anon.post(f"{API}/auth/login", json={"email": "m@example.com", "password": "wrong-password"})
    ok = await anon.post(f"{API}/auth/login", json={"email": "m@example.com", "password": PASSWORD})
    token = ok.json()["accessToken"]
    await anon.post(f"{API}/auth/logout", headers={"Authorization": f"Bearer {token}"})
    await client.patch(f"{API}/users/{user.id}", json={"name": "Em"})
    response = await client.get(f"{API}/audit")
    assert response.status_code == 200, response.text
    entries = response.json()["data"]
    assert [e["action"] for e in entries] == [
        "user.updated",
        "auth.logout",
        "auth.login",
        "auth.login_failed",
    ]
    failed = entries[-1]
    assert failed["actor"] == "m@example.com" and failed["actorId"] is None
    assert failed["ip"] == "127.0.0.1"
    assert PASSWORD not in response.text and "wrong-password" not in response.text
    login = entries[2]
    assert login["actorId"] == user.id and login["actor"] == "m@example.com"
    updated = entries[0]
    assert updated["targetId"] == user.id and updated["detail"] == {"name": "Em"}
    assert updated["actor"].startswith("api-key:")


async def test_filters_and_paging(client: httpx.AsyncClient, services: ApiServices) -> None:
    first = await services.access.audit("auth.login", actor="a@example.com", target_id="t1")
    for i in range(4):
        await services.access.audit("user.created", actor="x", target_id=f"u{i}")
    await services.access.audit("user.deleted", actor="x", target_id="u0")

    async def get(**params: object) -> dict[str, object]:
        response = await client.get(f"{API}/audit", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def actions(body: dict[str, object]) -> list[str]:
        return [e["action"] for e in body["data"]]  # type: ignore[attr-defined,index]

    assert actions(await get(action="user.")) == ["user.deleted", *["user.created"] * 4]
    assert actions(await get(action="user.created", limit=3)) == ["user.created"] * 3
    assert actions(await get(targetId="u0")) == ["user.deleted", "user.created"]
    assert actions(await get(action="auth.login")) == ["auth.login"]
    page = await get(action="user.", limit=2)
    seen = [e["targetId"] for e in page["data"]]  # type: ignore[attr-defined]
    while page["nextCursor"] is not None:
        page = await get(action="user.", limit=2, cursor=page["nextCursor"])
        seen += [e["targetId"] for e in page["data"]]  # type: ignore[attr-defined]
    assert seen == ["u0", "u3", "u2", "u1", "u0"]
    since = (first.at + timedelta(seconds=1)).isoformat()
    until = (first.at + timedelta(seconds=1)).isoformat()
    assert actions(await get(action="auth.login", since=since)) == []
    assert actions(await get(action="auth.login", until=until)) == ["auth.login"]
    owner_id = (await client.get(f"{API}/me")).json()["id"]
    await client.post(f"{API}/api-keys", json={"name": "k", "scopes": ["read"]})
    assert actions(await get(actorId=owner_id)) == ["apikey.created"]
    assert_problem(await client.get(f"{API}/audit", params={"cursor": "nope"}), 422, "input_invalid")
    assert (await client.get(f"{API}/audit", params={"limit": 0})).status_code == 422


async def test_only_instance_admins_with_the_admin_scope(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    member = await services.access.create_user("m@example.com", "M", PASSWORD)
    admin = await services.access.create_user("a@example.com", "A", PASSWORD, InstanceRole.ADMIN)
    member_key = (await services.access.issue_api_key(member, "k")).token
    admin_read = (await services.access.issue_api_key(admin, "k", [Scope.READ])).token
    admin_all = (await services.access.issue_api_key(admin, "k")).token
    assert_problem(await client.get(f"{API}/audit", headers={"X-API-Key": member_key}), 403, "forbidden")
    assert_problem(await client.get(f"{API}/audit", headers={"X-API-Key": admin_read}), 403, "forbidden")
    assert (await client.get(f"{API}/audit", headers={"X-API-Key": admin_all})).status_code == 200
