"""The authentication every ``/api/v1`` route depends on (app.py adds it to each router).

A caller sends an API key (``X-API-Key: rfk_...`` or ``Authorization: Bearer rfk_...``) or a login
access token (``Authorization: Bearer <JWT>``). The principal is kept on ``request.state`` and
handed to routes that declare ``principal: CurrentPrincipal`` (FastAPI runs the dependency once
per request). A key with only the ``read`` scope may use safe methods only.

Open without authentication: health probes, public webhooks (``/webhook``, ``/webhook-test``,
``/webhook-waiting``), the OpenAPI document and its /docs page, and the routes that create the
first user and log in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from relayflow.access.model import Principal, Scope
from relayflow.api.services import ApiServices
from relayflow.errors import Forbidden, Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declared for the OpenAPI document only (its security schemes, and the /docs page's Authorize
# button); the token itself is read by ``bearer_token``, which also knows ``?access_token=``.
API_KEY_SCHEME = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="An API key (`rfk_...`) from `POST /api/v1/api-keys` or `relayflow api-key create`.",
    auto_error=False,
)
BEARER_SCHEME = HTTPBearer(
    scheme_name="Bearer",
    description="An access token from `POST /api/v1/auth/login`, or an API key.",
    auto_error=False,
)


def bearer_token(request: Request) -> str | None:
    """The API key or access token the request carries, if any."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if request.url.path.endswith("/events"):
        # the event streams only: a browser's EventSource cannot send headers (elsewhere a token
        # in the URL would end up in logs and histories for nothing)
        token = request.query_params.get("access_token", "").strip()
        if token:
            return token
    return None


async def authenticate(
    request: Request,
    _key: Annotated[object, Depends(API_KEY_SCHEME)] = None,
    _bearer: Annotated[object, Depends(BEARER_SCHEME)] = None,
) -> Principal:
    """Identify the caller, or refuse the request (401; 403 for a write with a read-only key)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthorized(
            "authentication required: send an API key as X-API-Key, or Authorization: Bearer <token>"
        )
    services: ApiServices = request.app.state.services
    principal = await services.access.authenticate(token)
    # per key, or per user for login sessions (429 with Retry-After past the budget)
    services.access.limits.request(
        f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user.id}"
    )
    if request.method not in SAFE_METHODS and not principal.can_write():
        raise Forbidden("this API key has the read scope only")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_scope(principal: Principal, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"this needs an API key with the {scope.value} scope")
