"""Logins: the one-time setup of the owner, login, refresh, logout, ``/me`` and password change.

``public_router`` (setup, login, refresh) is mounted without authentication; ``router`` behind it.
Login is limited per client IP and backs off after failed attempts (relayflow/access/ratelimit.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from relayflow.access.model import InstanceRole, Principal, ProjectRole, Scope, User
from relayflow.access.service import TokenPair
from relayflow.api.deps import NO_NUL, JsonResponse, Services
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal

public_router = APIRouter(tags=["auth"])
router = APIRouter(tags=["auth"])

EMAIL = Field(min_length=3, max_length=254, pattern=NO_NUL)
NAME = Field(default="", max_length=200, pattern=NO_NUL)
PASSWORD = Field(min_length=1, max_length=1024)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetupIn(Body):
    email: str = EMAIL
    name: str = NAME
    password: str = PASSWORD


class LoginIn(Body):
    email: str = EMAIL
    password: str = PASSWORD


class RefreshIn(Body):
    refreshToken: str = Field(min_length=1, max_length=512)


class PasswordIn(Body):
    currentPassword: str = PASSWORD
    newPassword: str = PASSWORD


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: InstanceRole
    disabled: bool
    personalProjectId: str
    createdAt: datetime
    updatedAt: datetime


class TokensOut(BaseModel):
    accessToken: str = Field(description="A JWT; send as `Authorization: Bearer <token>`.")
    refreshToken: str = Field(description="Single use: POST it to /auth/refresh for a new pair.")
    expiresIn: int = Field(description="Seconds until the access token expires.")
    user: UserOut


class MembershipOut(BaseModel):
    projectId: str
    role: ProjectRole


class MeOut(UserOut):
    scopes: list[Scope]
    projects: list[MembershipOut]
    apiKeyId: str | None = None


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "disabled": user.disabled,
        "personalProjectId": user.personal_project_id,
        "createdAt": user.created_at,
        "updatedAt": user.updated_at,
    }


def tokens_json(pair: TokenPair) -> dict[str, Any]:
    return {
        "accessToken": pair.access_token,
        "refreshToken": pair.refresh_token,
        "expiresIn": pair.expires_in_s,
        "user": user_json(pair.user),
    }


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


@public_router.post("/setup", status_code=201, response_model=TokensOut, responses=problems(409, 422))
async def setup(services: Services, body: SetupIn, request: Request) -> JsonResponse:
    """Create the instance owner; works only while there are no users (409 after)."""
    access = services.access
    owner = await access.setup_owner(body.email, body.name, body.password)
    if services.on_owner_created is not None:
        await services.on_owner_created(owner)
    principal = await access.principal(owner)
    await access.audit(
        "user.created",
        principal=principal,
        target_kind="user",
        target_id=owner.id,
        ip=client_ip(request),
        detail={"role": owner.role.value, "setup": True},
    )
    pair = await access.start_session(owner)
    return JsonResponse(tokens_json(pair), status_code=201)


@public_router.post("/auth/login", response_model=TokensOut, responses=problems(401, 422, 429))
async def login(services: Services, body: LoginIn, request: Request) -> JsonResponse:
    """Trade an e-mail and password for an access token and a refresh token."""
    pair = await services.access.login(body.email, body.password, ip=client_ip(request))
    return JsonResponse(tokens_json(pair))


@public_router.post("/auth/refresh", response_model=TokensOut, responses=problems(401, 422))
async def refresh(services: Services, body: RefreshIn, request: Request) -> JsonResponse:
    """Trade the current refresh token for a new pair (the old one stops working; presenting it
    again ends the session)."""
    pair = await services.access.refresh(body.refreshToken, ip=client_ip(request))
    return JsonResponse(tokens_json(pair))


@router.post("/auth/logout", status_code=204, responses=problems(401, 422))
async def logout(services: Services, principal: CurrentPrincipal, request: Request) -> Response:
    """End the caller's login session (an API key has none: 422)."""
    await services.access.logout(principal, ip=client_ip(request))
    return Response(status_code=204)


def me_json(principal: Principal) -> dict[str, Any]:
    return {
        **user_json(principal.user),
        "scopes": sorted(s.value for s in principal.scopes),
        "projects": [{"projectId": p, "role": r.value} for p, r in sorted(principal.projects.items())],
        "apiKeyId": principal.api_key_id,
    }


@router.get("/me", response_model=MeOut, responses=problems(401))
async def me(principal: CurrentPrincipal) -> JsonResponse:
    """The caller: their user, the scopes of this token, and their project memberships."""
    return JsonResponse(me_json(principal))


@router.put("/me/password", status_code=204, responses=problems(401, 422, 429))
async def change_password(
    services: Services, principal: CurrentPrincipal, body: PasswordIn, request: Request
) -> Response:
    """Change the caller's password; every other login session of theirs ends."""
    await services.access.change_password(
        principal, body.currentPassword, body.newPassword, ip=client_ip(request)
    )
    return Response(status_code=204)
