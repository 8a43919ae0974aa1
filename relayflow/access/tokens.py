"""Login tokens: short-lived JWT access tokens and opaque rotating refresh tokens.

Access tokens are JWTs signed with HMAC-SHA256 (PyJWT). The signing key is derived from the
keyring's master with HKDF (purpose ``relayflow access tokens v1``), and the header's ``kid``
names the master, so tokens signed before a key rotation stay valid while the old key is still in
the keyring. Decoding always pins ``algorithms=["HS256"]``: a token claiming ``none`` or an
asymmetric algorithm is refused before its signature is looked at. Expiry is checked against the
service's clock (not PyJWT's wall clock), so tests can move time.

Claims: ``sub`` (user id), ``sid`` (login session id), ``iat``, ``exp``, ``typ`` = ``access``.
A valid signature is not enough: AccessService also checks that the session is live, so logout
and password changes take effect before the token expires.

Refresh tokens are ``rfr_<session id>.<random>``: not JWTs, because only the store can say whether
one is current (its SHA-256 is the session's ``refresh_hash``).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from relayflow.errors import Unauthorized
from relayflow.security.secrets import Keyring, SecretKeyRetired
from relayflow.settings import env_int

PURPOSE = b"relayflow access tokens v1"
ALGORITHM = "HS256"
TOKEN_TYPE = "access"
REFRESH_PREFIX = "rfr_"
# session and API key ids: uuids and hex
ID_CHARS = re.compile(r"[0-9A-Za-z-]{1,64}")


@dataclass(frozen=True)
class TokenSettings:
    access_ttl_s: int = 900
    refresh_ttl_s: int = 30 * 24 * 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenSettings:
        env = os.environ if env is None else env
        return cls(
            access_ttl_s=env_int(env, "RELAYFLOW_ACCESS_TOKEN_TTL_S", cls.access_ttl_s),
            refresh_ttl_s=env_int(env, "RELAYFLOW_REFRESH_TOKEN_TTL_S", cls.refresh_ttl_s),
        )


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: int  # seconds since the epoch


class AccessTokens:
    """Signs and verifies access tokens under the keyring's derived keys."""

    def __init__(self, keyring: Keyring, ttl_s: int) -> None:
        self.keyring = keyring
        self.ttl_s = ttl_s
        # kid -> derived key: HKDF is cheap, but a verify per request need not repeat it
        self._keys: dict[str, bytes] = {}

    def _key(self, kid: str | None) -> tuple[str, bytes]:
        wanted = self.keyring.current if kid is None else kid
        key = self._keys.get(wanted)
        if key is None:
            wanted, key = self.keyring.derive(PURPOSE, wanted)
            self._keys[wanted] = key
        return wanted, key

    def issue(self, user_id: str, session_id: str, now: datetime) -> str:
        kid, key = self._key(None)
        iat = int(now.timestamp())
        claims = {"sub": user_id, "sid": session_id, "iat": iat, "exp": iat + self.ttl_s, "typ": TOKEN_TYPE}
        import jwt  # PyJWT loads cryptography: at the first login, not at start (S11)

        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})

    def verify(self, token: str, now: datetime) -> AccessClaims:
        """The claims of a token this instance signed and that has not expired; Unauthorized
        otherwise (one message for every reason: a caller learns nothing from it)."""
        import jwt

        refused = Unauthorized("the access token is not valid")
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if not isinstance(kid, str) or header.get("alg") != ALGORITHM:
                raise refused
            _, key = self._key(kid)
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "sid", "iat", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, SecretKeyRetired):
            raise refused from None
        sub, sid, exp = claims.get("sub"), claims.get("sid"), claims.get("exp")
        if claims.get("typ") != TOKEN_TYPE or not isinstance(sub, str) or not isinstance(sid, str):
            raise refused
        if not isinstance(exp, int) or exp <= now.timestamp():
            raise Unauthorized("the access token has expired")
        return AccessClaims(sub, sid, exp)


def new_refresh_token(session_id: str) -> str:
    return f"{REFRESH_PREFIX}{session_id}.{secrets.token_urlsafe(32)}"


def refresh_session_id(token: str) -> str:
    """The session a refresh token names (its secret part is checked against the store)."""
    session_id, dot, secret = token.removeprefix(REFRESH_PREFIX).partition(".")
    # only the characters we make: anything else never reaches the database
    if not token.startswith(REFRESH_PREFIX) or not dot or not ID_CHARS.fullmatch(session_id) or not secret:
        raise Unauthorized("the refresh token is not valid")
    return session_id


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")
