"""OAuth2 for ``oAuth2Api`` credentials: the client-credentials grant, the authorization-code
grant (with optional PKCE S256) and refreshing (RFC 6749, RFC 7636).

Token data is kept in the credential's secret field ``oauthTokenData`` as ``{access_token,
refresh_token, token_type, expires_at (Unix seconds), scope}``.

The authorization ``state`` is sealed with the keyring (AES-GCM: secret and tamper-proof) for the
purpose ``oauth2-state``: it names the credential and the user who started the flow, expires
after ten minutes, carries a nonce (used once) and the PKCE verifier, so the callback, which is
public, needs no server-side session.

Token endpoints are called through the SSRF guard.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import orjson

from relayflow.errors import InputInvalid, UserError
from relayflow.security.secrets import Keyring, SecretError

TIMEOUT_S = 10.0
STATE_TTL_S = 600
STATE_PURPOSE = "oauth2-state"
# refresh this long before the token's stated expiry (clock skew, the request in flight)
EXPIRY_MARGIN_S = 30


class OAuth2Refused(UserError):
    """The authorization server refused, or could not be reached (the message names why, never a
    secret)."""

    code = "oauth2_refused"


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def check_url(value: Any, field: str) -> str:
    url = str(value or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OAuth2Refused(f"{field} must be an http(s) URL")
    return url


def token_data(
    body: Mapping[str, Any], previous: Mapping[str, Any] | None, now: float | None
) -> dict[str, Any]:
    """What a token response becomes in ``oauthTokenData`` (a refresh that returns no new
    refresh token keeps the old one)."""
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise OAuth2Refused("the token endpoint answered without an access_token")
    out: dict[str, Any] = {"access_token": token, "token_type": str(body.get("token_type") or "Bearer")}
    refresh = body.get("refresh_token") or (previous or {}).get("refresh_token")
    if isinstance(refresh, str) and refresh:
        out["refresh_token"] = refresh
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
        out["expires_at"] = int(_now(now) + expires_in)
    if isinstance(body.get("scope"), str):
        out["scope"] = body["scope"]
    return out


def expired(tokens: Any, now: float | None = None) -> bool:
    """Whether ``oauthTokenData`` holds no usable access token (none, or about to expire)."""
    if not isinstance(tokens, Mapping) or not tokens.get("access_token"):
        return True
    expires_at = tokens.get("expires_at")
    return isinstance(expires_at, (int, float)) and expires_at - EXPIRY_MARGIN_S <= _now(now)


async def token_request(fields: Mapping[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """POST ``form`` to the credential's token endpoint, with its client authentication."""
    import aiohttp

    from relayflow.security.ssrf_http import guarded_session

    url = check_url(fields.get("accessTokenUrl"), "accessTokenUrl")
    client_id = str(fields.get("clientId") or "")
    client_secret = str(fields.get("clientSecret") or "")
    headers = {"Accept": "application/json"}
    if fields.get("authentication", "header") == "body":
        form = {**form, "client_id": client_id, "client_secret": client_secret}
    else:  # RFC 6749 2.3.1: each part form-encoded, then HTTP Basic
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    try:
        async with (
            guarded_session(limit=1) as session,
            session.post(
                url, data=form, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as resp,
        ):
            status = resp.status
            raw = await resp.read()
    except Exception as exc:
        raise OAuth2Refused(f"could not reach the token endpoint: {type(exc).__name__}: {exc}") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise OAuth2Refused(f"the token endpoint answered HTTP {status} without a JSON object")
    if status >= 400 or "error" in body:
        why = body.get("error_description") or body.get("error") or "no reason given"
        raise OAuth2Refused(f"the token endpoint refused (HTTP {status}): {str(why)[:300]}")
    return body


async def client_credentials(fields: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    form = {"grant_type": "client_credentials"}
    if fields.get("scope"):
        form["scope"] = str(fields["scope"])
    return token_data(await token_request(fields, form), None, now)


async def exchange_code(
    fields: Mapping[str, Any], code: str, redirect_uri: str, verifier: str | None, now: float | None = None
) -> dict[str, Any]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        form["code_verifier"] = verifier
    return token_data(await token_request(fields, form), None, now)


async def refresh(fields: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    previous = fields.get("oauthTokenData")
    if not isinstance(previous, Mapping) or not previous.get("refresh_token"):
        raise OAuth2Refused("the access token expired and there is no refresh token: authorize again")
    form = {"grant_type": "refresh_token", "refresh_token": str(previous["refresh_token"])}
    if fields.get("scope"):
        form["scope"] = str(fields["scope"])
    return token_data(await token_request(fields, form), previous, now)


# --- the authorization-code flow's state -----------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def seal_state(
    keyring: Keyring,
    credential_id: str,
    user_id: str,
    *,
    verifier: str | None = None,
    now: float | None = None,
) -> str:
    state = {
        "credentialId": credential_id,
        "userId": user_id,
        "exp": int(_now(now) + STATE_TTL_S),
        "nonce": secrets.token_urlsafe(16),
        "verifier": verifier,
    }
    return keyring.seal(orjson.dumps(state), STATE_PURPOSE)


def open_state(keyring: Keyring, value: str, now: float | None = None) -> dict[str, Any]:
    """The state's content; InputInvalid when it was not made here, was changed, or expired."""
    try:
        state = orjson.loads(keyring.open(value, STATE_PURPOSE))
    except (SecretError, orjson.JSONDecodeError):
        raise InputInvalid("state: not a valid authorization state (changed, or not issued here)") from None
    if not isinstance(state, dict) or not isinstance(state.get("credentialId"), str):
        raise InputInvalid("state: not a valid authorization state")
    if not isinstance(state.get("exp"), int) or state["exp"] <= _now(now):
        raise InputInvalid("state: the authorization took too long; start it again")
    return state


def authorization_url(fields: Mapping[str, Any], redirect_uri: str, state: str, challenge: str | None) -> str:
    base = check_url(fields.get("authUrl"), "authUrl")
    query = {
        "response_type": "code",
        "client_id": str(fields.get("clientId") or ""),
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if fields.get("scope"):
        query["scope"] = str(fields["scope"])
    if challenge:
        query["code_challenge"] = challenge
        query["code_challenge_method"] = "S256"
    return f"{base}{'&' if urlsplit(base).query else '?'}{urlencode(query)}"
