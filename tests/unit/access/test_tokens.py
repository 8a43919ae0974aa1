"""Access tokens: signed under the keyring's derived key, pinned to HS256, expiring by the clock."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from relayflow.access.tokens import (
    PURPOSE,
    AccessTokens,
    TokenSettings,
    new_refresh_token,
    refresh_session_id,
)
from relayflow.errors import InputInvalid, Unauthorized
from relayflow.security.secrets import Keyring, SecretKeyRetired

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def master() -> bytes:
    return os.urandom(32)


@pytest.fixture
def tokens(master: bytes) -> AccessTokens:
    return AccessTokens(Keyring.of([master]), ttl_s=900)


def test_round_trip_carries_user_session_and_kid(tokens: AccessTokens) -> None:
    token = tokens.issue("u1", "s1", NOW)
    claims = tokens.verify(token, NOW + timedelta(seconds=899))
    assert (claims.user_id, claims.session_id) == ("u1", "s1")
    assert claims.expires_at == int(NOW.timestamp()) + 900
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == tokens.keyring.current


def test_expired_by_the_clock_given(tokens: AccessTokens) -> None:
    token = tokens.issue("u1", "s1", NOW)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(token, NOW + timedelta(seconds=900))


def test_tampered_payload_is_refused(tokens: AccessTokens) -> None:
    head, _, sig = tokens.issue("u1", "s1", NOW).split(".")
    forged = b64({"sub": "admin", "sid": "s1", "iat": 0, "exp": 2**40, "typ": "access"})
    with pytest.raises(Unauthorized):
        tokens.verify(f"{head}.{forged}.{sig}", NOW)


def test_alg_none_is_refused(tokens: AccessTokens) -> None:
    header = b64({"alg": "none", "typ": "JWT", "kid": tokens.keyring.current})
    payload = b64({"sub": "u1", "sid": "s1", "iat": 0, "exp": 2**40, "typ": "access"})
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{payload}.", NOW)


def test_signed_with_another_key_or_algorithm_is_refused(tokens: AccessTokens) -> None:
    claims = {"sub": "u1", "sid": "s1", "iat": 0, "exp": 2**40, "typ": "access"}
    kid = tokens.keyring.current
    other = jwt.encode(claims, os.urandom(32), algorithm="HS256", headers={"kid": kid})
    hs512 = jwt.encode(claims, os.urandom(64), algorithm="HS512", headers={"kid": kid})
    for token in (other, hs512, "not-a-jwt", "a.b.c"):
        with pytest.raises(Unauthorized):
            tokens.verify(token, NOW)


def test_another_token_type_is_refused(tokens: AccessTokens) -> None:
    claims = {"sub": "u1", "sid": "s1", "iat": 0, "exp": 2**40, "typ": "refresh"}
    kid, key = tokens.keyring.derive(PURPOSE)
    token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(Unauthorized):
        tokens.verify(token, NOW)


def test_old_key_still_verifies_during_a_rotation_and_not_after(master: bytes) -> None:
    old = AccessTokens(Keyring.of([master]), ttl_s=900)
    token = old.issue("u1", "s1", NOW)
    new_master = os.urandom(32)
    rotating = AccessTokens(Keyring.of([new_master, master]), ttl_s=900)
    assert rotating.verify(token, NOW).user_id == "u1"
    assert jwt.get_unverified_header(rotating.issue("u1", "s1", NOW))["kid"] != old.keyring.current
    retired = AccessTokens(Keyring.of([new_master]), ttl_s=900)
    with pytest.raises(Unauthorized):
        retired.verify(token, NOW)


def test_keyring_derive_is_per_purpose_and_refuses_unknown_kids(master: bytes) -> None:
    ring = Keyring.of([master])
    kid, key = ring.derive(PURPOSE)
    assert kid == ring.current and len(key) == 32
    assert ring.derive(b"other purpose")[1] != key
    assert ring.derive(PURPOSE, kid) == (kid, key)
    with pytest.raises(SecretKeyRetired):
        ring.derive(PURPOSE, "00000000")
    assert master.hex() not in repr(ring)


def test_refresh_tokens_name_their_session() -> None:
    token = new_refresh_token("sess-1")
    assert token.startswith("rfr_sess-1.")
    assert refresh_session_id(token) == "sess-1"
    assert new_refresh_token("sess-1") != token
    for bad in ("rfr_", "rfr_x", "rfr_.y", "rfk_x.y", "x.y"):
        with pytest.raises(Unauthorized):
            refresh_session_id(bad)


def test_settings_from_env() -> None:
    assert TokenSettings.from_env({}) == TokenSettings(900, 2592000)
    env = {"RELAYFLOW_ACCESS_TOKEN_TTL_S": "60", "RELAYFLOW_REFRESH_TOKEN_TTL_S": "3600"}
    assert TokenSettings.from_env(env) == TokenSettings(60, 3600)
    for bad in ("0", "-5", "soon"):
        with pytest.raises(InputInvalid, match="RELAYFLOW_ACCESS_TOKEN_TTL_S"):
            TokenSettings.from_env({"RELAYFLOW_ACCESS_TOKEN_TTL_S": bad})
