"""Logins: setup of the owner, login, access and refresh tokens, logout, password change, rate
limits and the failed-login backoff. Time is a fake clock; nothing sleeps."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import AuditQuery, InstanceRole, User
from relayflow.access.ports import AccessStore
from relayflow.access.ratelimit import RateLimits, RateLimitSettings
from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import open_access_store
from relayflow.access.tokens import PURPOSE, TokenSettings
from relayflow.api import ApiServices, create_app
from relayflow.engine.memory import FakeClock
from relayflow.security.secrets import Keyring
from tests.api.conftest import API, OWNER_EMAIL, OWNER_PASSWORD, assert_problem

PASSWORD = "member-password-1"


@pytest.fixture(autouse=True)
async def clock(
    request: pytest.FixtureRequest, services: ApiServices, tmp_path: Path
) -> AsyncIterator[FakeClock]:
    """The access service on a fake clock with roomy limits; its store is in memory beside the
    memory stores and the SQL access store on SQLite beside the SQLite ones. Autouse, so it is
    in place before ``client`` sets the owner up."""
    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))
    params = getattr(request.node, "callspec", None)
    on_sql = params is not None and params.params.get("services") == "sqlite"
    store: AccessStore = (
        await open_access_store(f"sqlite+aiosqlite:///{tmp_path / 'access.db'}", clock=fake)
        if on_sql
        else MemoryAccessStore(fake)
    )
    services.access = AccessService(
        store,
        Keyring.of([os.urandom(32)]),
        clock=fake,
        hasher=fast_hasher(),
        tokens=TokenSettings(access_ttl_s=900, refresh_ttl_s=3600),
        limits=RateLimits(RateLimitSettings(per_minute=600, login_per_minute=1000), fake),
    )
    yield fake
    await store.close()


@pytest.fixture
async def anon(services: ApiServices) -> AsyncIterator[httpx.AsyncClient]:
    """The API without credentials."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as c:
        yield c


async def member(services: ApiServices, email: str = "m@example.com") -> User:
    return await services.access.create_user(email, "Member", PASSWORD, InstanceRole.MEMBER)


async def login(anon: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, object]:
    response = await anon.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_setup_once_then_conflict(anon: httpx.AsyncClient, services: ApiServices) -> None:
    adopted: list[User] = []

    async def adopt(user: User) -> None:
        adopted.append(user)

    services.on_owner_created = adopt
    body = {"email": "Boss@Example.com", "name": "Boss", "password": "boss-password"}
    response = await anon.post(f"{API}/setup", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["user"]["email"] == "boss@example.com" and data["user"]["role"] == "owner"
    assert [u.id for u in adopted] == [data["user"]["id"]]
    me = await anon.get(f"{API}/me", headers=bearer(data["accessToken"]))
    assert me.status_code == 200 and me.json()["role"] == "owner"
    again = await anon.post(f"{API}/setup", json={**body, "email": "other@example.com"})
    assert_problem(again, 409, "conflict")
    assert len(adopted) == 1


async def test_setup_refuses_bad_input(anon: httpx.AsyncClient) -> None:
    short = await anon.post(f"{API}/setup", json={"email": "a@example.com", "name": "A", "password": "short"})
    assert_problem(short, 422, "input_invalid")
    not_email = await anon.post(f"{API}/setup", json={"email": "nobody", "password": "long-enough-1"})
    assert_problem(not_email, 422, "input_invalid")
    extra = await anon.post(f"{API}/setup", json={"email": "a@example.com", "password": "x" * 9, "x": 1})
    assert extra.status_code == 422


async def test_login_gives_tokens_that_work(anon: httpx.AsyncClient, services: ApiServices) -> None:
    user = await member(services)
    tokens = await login(anon, "M@example.com")
    assert tokens["expiresIn"] == 900
    assert isinstance(tokens["refreshToken"], str) and tokens["refreshToken"].startswith("rfr_")
    me = await anon.get(f"{API}/me", headers=bearer(tokens["accessToken"]))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user.id
    assert me.json()["scopes"] == ["admin", "read", "write"]
    assert me.json()["projects"] == [{"projectId": user.personal_project_id, "role": "admin"}]
    assert (await anon.get(f"{API}/workflows", headers=bearer(tokens["accessToken"]))).status_code == 200


async def test_login_refusals_read_the_same_and_are_audited(
    anon: httpx.AsyncClient, services: ApiServices
) -> None:
    await member(services)
    wrong = await anon.post(f"{API}/auth/login", json={"email": "m@example.com", "password": "nope-nope"})
    unknown = await anon.post(f"{API}/auth/login", json={"email": "x@example.com", "password": PASSWORD})
    for response in (wrong, unknown):
        body = assert_problem(response, 401, "unauthorized")
        assert body["detail"] == "wrong e-mail or password"
    page = await services.access.store.audit_log(_query("auth.login_failed"))
    assert [e.actor for e in page.items] == ["x@example.com", "m@example.com"]
    assert all(PASSWORD not in str(e) and "nope-nope" not in str(e) for e in page.items)


async def test_disabled_user_cannot_log_in_and_loses_sessions(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, services: ApiServices
) -> None:
    user = await member(services)
    tokens = await login(anon, user.email)
    key = (await services.access.issue_api_key(user, "k")).token
    disabled = await client.patch(f"{API}/users/{user.id}", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    response = await anon.post(f"{API}/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(response, 401, "unauthorized")
    assert (await anon.get(f"{API}/me", headers=bearer(tokens["accessToken"]))).status_code == 401
    assert (await anon.get(f"{API}/me", headers={"X-API-Key": key})).status_code == 401
    refreshed = await anon.post(f"{API}/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 401


async def test_expired_access_token(anon: httpx.AsyncClient, services: ApiServices, clock: FakeClock) -> None:
    await member(services)
    tokens = await login(anon, "m@example.com")
    assert (await anon.get(f"{API}/me", headers=bearer(tokens["accessToken"]))).status_code == 200
    clock.advance(901)
    response = await anon.get(f"{API}/me", headers=bearer(tokens["accessToken"]))
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_tampered_and_unsigned_tokens(anon: httpx.AsyncClient, services: ApiServices) -> None:
    owner = await services.access.setup_owner(OWNER_EMAIL, "Owner", OWNER_PASSWORD)
    user = await member(services)
    tokens = await login(anon, user.email)
    head, payload, sig = str(tokens["accessToken"]).split(".")
    claims = jwt.decode(str(tokens["accessToken"]), options={"verify_signature": False})
    as_owner = _b64({**claims, "sub": owner.id})
    kid = services.access.keyring.current
    none_token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{as_owner}."
    wrong_key = jwt.encode({**claims, "sub": owner.id}, b"k" * 32, algorithm="HS256", headers={"kid": kid})
    for token in (f"{head}.{as_owner}.{sig}", none_token, wrong_key, f"{head}.{payload}.{sig[:-2]}xx"):
        assert_problem(await anon.get(f"{API}/me", headers=bearer(token)), 401, "unauthorized")
    # a token signed with the real key but for a session that does not exist
    _, key = services.access.keyring.derive(PURPOSE)
    orphan = jwt.encode({**claims, "sid": "nope"}, key, algorithm="HS256", headers={"kid": kid})
    assert_problem(await anon.get(f"{API}/me", headers=bearer(orphan)), 401, "unauthorized")


async def test_refresh_rotates_and_reuse_revokes_the_session(
    anon: httpx.AsyncClient, services: ApiServices
) -> None:
    user = await member(services)
    first = await login(anon, user.email)
    response = await anon.post(f"{API}/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert (await anon.get(f"{API}/me", headers=bearer(second["accessToken"]))).status_code == 200
    # the first refresh token again: someone holds a copy, so the whole session ends
    reused = await anon.post(f"{API}/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert_problem(reused, 401, "unauthorized")
    assert (await anon.get(f"{API}/me", headers=bearer(second["accessToken"]))).status_code == 401
    after = await anon.post(f"{API}/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert after.status_code == 401
    page = await services.access.store.audit_log(_query("auth.refresh_reuse"))
    assert [e.actor_id for e in page.items] == [user.id]


async def test_refresh_token_is_not_an_access_token(anon: httpx.AsyncClient, services: ApiServices) -> None:
    await member(services)
    tokens = await login(anon, "m@example.com")
    assert (await anon.get(f"{API}/me", headers=bearer(tokens["refreshToken"]))).status_code == 401
    for bad in ("rfr_nope.x", "garbage", "rfr_" + "a" * 40):
        assert (await anon.post(f"{API}/auth/refresh", json={"refreshToken": bad})).status_code == 401


async def test_refresh_expires_with_the_session(
    anon: httpx.AsyncClient, services: ApiServices, clock: FakeClock
) -> None:
    await member(services)
    tokens = await login(anon, "m@example.com")
    clock.advance(3601)
    response = await anon.post(f"{API}/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert_problem(response, 401, "unauthorized")


async def test_logout_revokes_the_session(anon: httpx.AsyncClient, services: ApiServices) -> None:
    await member(services)
    one = await login(anon, "m@example.com")
    two = await login(anon, "m@example.com")
    response = await anon.post(f"{API}/auth/logout", headers=bearer(one["accessToken"]))
    assert response.status_code == 204, response.text
    assert (await anon.get(f"{API}/me", headers=bearer(one["accessToken"]))).status_code == 401
    refreshed = await anon.post(f"{API}/auth/refresh", json={"refreshToken": one["refreshToken"]})
    assert refreshed.status_code == 401
    assert (await anon.get(f"{API}/me", headers=bearer(two["accessToken"]))).status_code == 200
    assert (await services.access.store.audit_log(_query("auth.logout"))).items


async def test_logout_with_an_api_key_is_refused(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"{API}/auth/logout"), 422, "input_invalid")


async def test_password_change_keeps_this_session_and_ends_the_others(
    anon: httpx.AsyncClient, services: ApiServices
) -> None:
    await member(services)
    here = await login(anon, "m@example.com")
    elsewhere = await login(anon, "m@example.com")
    body = {"currentPassword": "not-the-password", "newPassword": "brand-new-password"}
    wrong = await anon.put(f"{API}/me/password", json=body, headers=bearer(here["accessToken"]))
    assert_problem(wrong, 422, "input_invalid")
    body["currentPassword"] = PASSWORD
    response = await anon.put(f"{API}/me/password", json=body, headers=bearer(here["accessToken"]))
    assert response.status_code == 204, response.text
    assert (await anon.get(f"{API}/me", headers=bearer(here["accessToken"]))).status_code == 200
    assert (await anon.get(f"{API}/me", headers=bearer(elsewhere["accessToken"]))).status_code == 401
    old = await anon.post(f"{API}/auth/login", json={"email": "m@example.com", "password": PASSWORD})
    assert old.status_code == 401
    await login(anon, "m@example.com", "brand-new-password")
    assert (await services.access.store.audit_log(_query("auth.password_changed"))).items


async def test_rate_limit_per_caller(
    anon: httpx.AsyncClient, services: ApiServices, clock: FakeClock
) -> None:
    services.access.limits = RateLimits(RateLimitSettings(per_minute=3), clock)
    user = await member(services)
    key = {"X-API-Key": (await services.access.issue_api_key(user, "k")).token}
    for _ in range(3):
        assert (await anon.get(f"{API}/me", headers=key)).status_code == 200
    limited = await anon.get(f"{API}/me", headers=key)
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["retry-after"] == "20"
    # another caller has a budget of its own
    other = {"X-API-Key": (await services.access.issue_api_key(user, "k2")).token}
    assert (await anon.get(f"{API}/me", headers=other)).status_code == 200
    clock.advance(20)
    assert (await anon.get(f"{API}/me", headers=key)).status_code == 200


async def test_login_attempts_per_ip(
    anon: httpx.AsyncClient, services: ApiServices, clock: FakeClock
) -> None:
    services.access.limits = RateLimits(RateLimitSettings(login_per_minute=2), clock)
    await member(services)
    for _ in range(2):
        await login(anon, "m@example.com")
    limited = await anon.post(f"{API}/auth/login", json={"email": "m@example.com", "password": PASSWORD})
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) == 30


async def test_login_backoff_after_failures(
    anon: httpx.AsyncClient, services: ApiServices, clock: FakeClock
) -> None:
    await member(services)
    bad = {"email": "m@example.com", "password": "wrong-password"}
    for _ in range(5):
        assert_problem(await anon.post(f"{API}/auth/login", json=bad), 401, "unauthorized")
    # the sixth failure locks for 1 s, the seventh for 2 s ...
    assert_problem(await anon.post(f"{API}/auth/login", json=bad), 401, "unauthorized")
    good = {"email": "m@example.com", "password": PASSWORD}
    locked = await anon.post(f"{API}/auth/login", json=good)
    assert_problem(locked, 429, "rate_limited")
    assert locked.headers["retry-after"] == "1"
    clock.advance(1)
    assert_problem(await anon.post(f"{API}/auth/login", json=bad), 401, "unauthorized")
    locked = await anon.post(f"{API}/auth/login", json=good)
    assert locked.headers["retry-after"] == "2"
    clock.advance(2)
    # a success clears the count
    await login(anon, "m@example.com")
    assert_problem(await anon.post(f"{API}/auth/login", json=bad), 401, "unauthorized")
    await login(anon, "m@example.com")


def _query(action: str) -> AuditQuery:
    return AuditQuery(action=action)
