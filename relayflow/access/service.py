"""Authentication and account management over the access store.

- passwords: argon2id (argon2-cffi), verified in a thread so the event loop keeps serving;
- API keys: ``rfk_<id>_<secret>``, shown once; the store keeps the id and SHA-256 of the secret
  (256 random bits need no slow hash), compared in constant time; scopes and an expiry;
- login sessions: ``login`` starts one (a short-lived JWT access token, relayflow/access/tokens.py,
  and an opaque refresh token whose SHA-256 the session keeps); ``refresh`` rotates the refresh
  token with a compare-and-swap, and a stale refresh token presented again revokes the session
  (it was copied); logout and password changes revoke sessions, which the access token's check
  of its session notices at once;
- rate limits and the failed-login backoff (relayflow/access/ratelimit.py) live here too, so the
  API and tests reach them through the one service.

Who a token names is cached for ``CACHE_TTL_S`` so a request costs no database read; every change
made through this service clears the cache, so in one process a revoked key or a changed role
takes effect at once (other processes within the TTL).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from relayflow.access.memory import new_id
from relayflow.access.model import (
    ALL_SCOPES,
    ApiKey,
    AuditEntry,
    InstanceRole,
    Principal,
    Scope,
    Session,
    User,
)
from relayflow.access.ports import AccessStore
from relayflow.access.ratelimit import RateLimits
from relayflow.access.tokens import (
    ID_CHARS,
    REFRESH_PREFIX,
    AccessTokens,
    TokenSettings,
    new_refresh_token,
    refresh_session_id,
)
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import Conflict, InputInvalid, Unauthorized
from relayflow.security.secrets import Keyring
from relayflow.store.common import utc

API_KEY_PREFIX = "rfk_"
CACHE_TTL_S = 2.0
MIN_PASSWORD = 8


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: t=3, 64 MiB, p=4)."""
    return PasswordHasher()


def fast_hasher() -> PasswordHasher:
    """Still argon2id, at the cheapest cost: for tests that create many users."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputInvalid(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InputInvalid("a password may have at most 1024 characters")


def check_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > 254
        or any(c.isspace() or c == "\x00" for c in email)
    ):
        raise InputInvalid(f"not an e-mail address: {email!r}")
    return email


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    # the whole key, shown once
    token: str


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands out."""

    user: User
    session_id: str
    access_token: str
    refresh_token: str
    expires_in_s: int


def user_scopes(user: User) -> frozenset[Scope]:
    """The most an API key of this user may hold: ``admin`` only for instance owners/admins."""
    return ALL_SCOPES if user.is_instance_admin else frozenset({Scope.READ, Scope.WRITE})


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        keyring: Keyring,
        *,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
        tokens: TokenSettings | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.hasher = hasher or default_hasher()
        self.token_settings = tokens or TokenSettings.from_env()
        self.tokens = AccessTokens(keyring, self.token_settings.access_ttl_s)
        self.limits = limits or RateLimits(clock=self.clock)
        # token -> (principal, cached at clock.monotonic, when the token itself stops being valid)
        self._cache: dict[str, tuple[Principal, float, datetime | None]] = {}
        # a hash to verify against when the e-mail is unknown, so that answer takes as long
        self._dummy_hash: str | None = None

    def now(self) -> datetime:
        return utc(self.clock.now())

    def changed(self) -> None:
        """Forget cached principals: call after any change to users, roles, keys or sessions."""
        self._cache.clear()

    # passwords ---------------------------------------------------------------------------------
    async def hash_password(self, password: str) -> str:
        check_password(password)
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify_password(self, user: User, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(user.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    # users ------------------------------------------------------------------------------------
    async def create_user(
        self, email: str, name: str, password: str, role: InstanceRole = InstanceRole.MEMBER
    ) -> User:
        email = check_email(email)
        if "\x00" in name or len(name) > 200:
            raise InputInvalid("a name may have at most 200 characters, and no NUL")
        password_hash = await self.hash_password(password)
        user = await self.store.create_user(email, name.strip() or email, password_hash, role)
        self.changed()
        return user

    async def setup_owner(self, email: str, name: str, password: str) -> User:
        """The first user, as the instance owner; Conflict once any user exists. Objects made
        before there were users (no owning project) go to the owner's personal project."""
        if await self.store.count_users() > 0:
            raise Conflict("the instance is already set up")
        return await self.create_user(email, name, password, InstanceRole.OWNER)

    # API keys ---------------------------------------------------------------------------------
    async def issue_api_key(
        self,
        user: User,
        name: str,
        scopes: Iterable[Scope] = ALL_SCOPES,
        expires_at: datetime | None = None,
    ) -> IssuedKey:
        wanted = frozenset(Scope(s) for s in scopes)
        if not wanted:
            raise InputInvalid("an API key needs at least one scope")
        if expires_at is not None and utc(expires_at) <= self.now():
            raise InputInvalid("expiresAt must be in the future")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            id=key_id,
            user_id=user.id,
            name=name.strip() or key_id,
            secret_hash=secret_hash(secret),
            scopes=wanted,
            created_at=self.now(),
            expires_at=utc(expires_at) if expires_at is not None else None,
        )
        await self.store.create_api_key(key)
        self.changed()
        return IssuedKey(key, f"{API_KEY_PREFIX}{key_id}_{secret}")

    async def revoke_api_key(self, key_id: str) -> bool:
        revoked = await self.store.revoke_api_key(key_id, self.now())
        self.changed()
        return revoked

    # authentication ------------------------------------------------------------------------------
    async def authenticate(self, token: str) -> Principal:
        """The principal a bearer token or API key names; Unauthorized otherwise."""
        hit = self._cache.get(token)
        if (
            hit is not None
            and self.clock.monotonic() - hit[1] < CACHE_TTL_S
            and (hit[2] is None or self.now() < hit[2])
        ):
            return hit[0]
        principal, valid_until = await self._authenticate(token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (principal, self.clock.monotonic(), valid_until)
        return principal

    async def _authenticate(self, token: str) -> tuple[Principal, datetime | None]:
        if token.startswith(API_KEY_PREFIX):
            return await self._api_key_principal(token)
        if token.startswith(REFRESH_PREFIX):
            raise Unauthorized("a refresh token only buys new tokens (POST /api/v1/auth/refresh)")
        return await self._session_principal(token)

    async def _api_key_principal(self, token: str) -> tuple[Principal, datetime | None]:
        key_id, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
        key = await self.store.get_api_key(key_id) if sep and ID_CHARS.fullmatch(key_id) else None
        if key is None or not hmac.compare_digest(key.secret_hash, secret_hash(secret)):
            raise Unauthorized("the API key is not valid")
        if key.revoked_at is not None:
            raise Unauthorized("the API key was revoked")
        if key.expires_at is not None and key.expires_at <= self.now():
            raise Unauthorized("the API key has expired")
        user = await self.store.get_user(key.user_id)
        if user is None or user.disabled:
            raise Unauthorized("the API key's user is disabled or gone")
        # instance powers need the user's role too (Principal.is_instance_admin): a demoted
        # admin's key keeps its ``admin`` scope but no longer administers the instance
        return await self.principal(user, scopes=key.scopes, api_key_id=key.id), key.expires_at

    async def _session_principal(self, token: str) -> tuple[Principal, datetime | None]:
        claims = self.tokens.verify(token, self.now())
        session = await self.store.get_session(claims.session_id)
        if not self._live(session) or session is None or session.user_id != claims.user_id:
            raise Unauthorized("the session has ended: log in again")
        user = await self.store.get_user(claims.user_id)
        if user is None or user.disabled:
            raise Unauthorized("the user is disabled or gone")
        principal = await self.principal(user, session_id=session.id)
        return principal, utc(datetime.fromtimestamp(claims.expires_at, tz=self.now().tzinfo))

    def _live(self, session: Session | None) -> bool:
        return session is not None and session.revoked_at is None and session.expires_at > self.now()

    async def principal(
        self,
        user: User,
        *,
        scopes: frozenset[Scope] = ALL_SCOPES,
        api_key_id: str | None = None,
        session_id: str | None = None,
    ) -> Principal:
        memberships = await self.store.memberships(user.id)
        return Principal(user, memberships, scopes, api_key_id=api_key_id, session_id=session_id)

    # login sessions -------------------------------------------------------------------------------
    async def login(self, email: str, password: str, *, ip: str | None = None) -> TokenPair:
        """A new session for the user with this e-mail and password. Every refusal reads the
        same (Unauthorized), is audited as ``auth.login_failed`` with the e-mail tried (never the
        password), and counts toward the IP's and the e-mail's backoff."""
        # the e-mail is logged and looked up: keep it short and free of NUL (PostgreSQL refuses it)
        tried = email.strip().lower()[:254].replace("\x00", "\ufffd")
        self.limits.login_attempt(ip, tried)
        user = await self.store.user_by_email(tried)
        if user is None:
            await self._verify_dummy(password)
            return await self._login_failed(tried, ip, "unknown e-mail")
        if not await self.verify_password(user, password):
            return await self._login_failed(tried, ip, "wrong password", user)
        if user.disabled:
            return await self._login_failed(tried, ip, "disabled", user, "the account is disabled")
        self.limits.login_succeeded(ip, tried)
        pair = await self.start_session(user)
        principal = await self.principal(user, session_id=pair.session_id)
        await self.audit(
            "auth.login", principal=principal, target_kind="session", target_id=pair.session_id, ip=ip
        )
        return pair

    async def _login_failed(
        self, tried: str, ip: str | None, reason: str, user: User | None = None, message: str | None = None
    ) -> TokenPair:
        self.limits.login_failed(ip, tried)
        await self.audit(
            "auth.login_failed",
            actor=tried,
            target_kind="user" if user is not None else None,
            target_id=user.id if user is not None else None,
            ip=ip,
            detail={"reason": reason},
        )
        raise Unauthorized(message or "wrong e-mail or password")

    async def _verify_dummy(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, secrets.token_urlsafe(16))
        dummy = User("", "", "", InstanceRole.MEMBER, self._dummy_hash, self.now(), self.now())
        await self.verify_password(dummy, password)

    async def start_session(self, user: User) -> TokenPair:
        """A session for a user already identified (a login, the setup of the owner)."""
        now = self.now()
        session_id = new_id()
        refresh = new_refresh_token(session_id)
        expires_at = now + timedelta(seconds=self.token_settings.refresh_ttl_s)
        await self.store.create_session(Session(session_id, user.id, secret_hash(refresh), now, expires_at))
        return self._pair(user, session_id, refresh, now)

    def _pair(self, user: User, session_id: str, refresh: str, now: datetime) -> TokenPair:
        access = self.tokens.issue(user.id, session_id, now)
        return TokenPair(user, session_id, access, refresh, self.token_settings.access_ttl_s)

    async def refresh(self, refresh_token: str, *, ip: str | None = None) -> TokenPair:
        """A new token pair for the current refresh token of a live session.

        A refresh token that is not the session's current one was used before (it rotates on
        every use), so a copy exists: the session is revoked and ``auth.refresh_reuse`` audited.
        Forging one needs the session id, which only the holder of its tokens knows; the worst a
        forger can do is end that session. Of two refreshes racing with the same token, the
        loser gets 401 and the session lives on (the winner holds the new pair)."""
        session_id = refresh_session_id(refresh_token)
        session = await self.store.get_session(session_id)
        if session is None or not self._live(session):
            raise Unauthorized("the refresh token is not valid")
        presented = secret_hash(refresh_token)
        user = await self.store.get_user(session.user_id)
        if not hmac.compare_digest(session.refresh_hash, presented):
            await self.store.revoke_session(session_id, self.now())
            self.changed()
            await self.audit(
                "auth.refresh_reuse",
                principal=await self.principal(user, session_id=session_id) if user is not None else None,
                target_kind="session",
                target_id=session_id,
                ip=ip,
            )
            raise Unauthorized("the refresh token was used before: the session is revoked, log in again")
        if user is None or user.disabled:
            raise Unauthorized("the user is disabled or gone")
        now = self.now()
        fresh = new_refresh_token(session_id)
        expires_at = now + timedelta(seconds=self.token_settings.refresh_ttl_s)
        if not await self.store.rotate_session(session_id, presented, secret_hash(fresh), expires_at):
            raise Unauthorized("the refresh token was just used by another request")
        return self._pair(user, session_id, fresh, now)

    async def logout(self, principal: Principal, *, ip: str | None = None) -> None:
        """End the caller's session (its access and refresh tokens stop working at once)."""
        if principal.session_id is None:
            raise InputInvalid("an API key has no session to end: revoke the key instead")
        await self.store.revoke_session(principal.session_id, self.now())
        self.changed()
        await self.audit(
            "auth.logout", principal=principal, target_kind="session", target_id=principal.session_id, ip=ip
        )

    async def change_password(
        self, principal: Principal, current: str, new: str, *, ip: str | None = None
    ) -> int:
        """Check the current password, set the new one, and revoke every other session of the
        user (the caller's own stays). Returns how many were revoked."""
        user = principal.user
        self.limits.login_attempt(None, user.email)
        fresh = await self.store.get_user(user.id)
        if fresh is None or not await self.verify_password(fresh, current):
            self.limits.login_failed(None, user.email)
            raise InputInvalid("the current password is not right")
        password_hash = await self.hash_password(new)
        await self.store.update_user(user.id, password_hash=password_hash)
        revoked = await self.store.revoke_sessions(user.id, self.now(), keep=principal.session_id)
        self.changed()
        await self.audit(
            "auth.password_changed",
            principal=principal,
            target_kind="user",
            target_id=user.id,
            ip=ip,
            detail={"sessionsRevoked": revoked},
        )
        return revoked

    # audit ----------------------------------------------------------------------------------------
    async def audit(
        self,
        action: str,
        *,
        principal: Principal | None = None,
        actor: str | None = None,
        target_kind: str | None = None,
        target_id: str | None = None,
        ip: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at=self.now(),
            action=action,
            actor_id=principal.user.id if principal is not None else None,
            actor=actor if actor is not None else (principal.label if principal is not None else ""),
            target_kind=target_kind,
            target_id=target_id,
            ip=ip,
            detail=dict(detail or {}),
        )
        return await self.store.audit(entry)


__all__ = ["AccessService", "IssuedKey", "TokenPair", "new_id", "user_scopes"]
