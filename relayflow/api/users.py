"""``/users`` (instance owners and admins, with the ``admin`` scope) and ``/api-keys``.

Rules beyond the roles: nobody changes the owner but the owner (its role never changes, it cannot
be disabled or deleted); nobody disables or deletes themselves; a user whose personal project
still owns workflows or credentials is deleted only with ``?transferTo=<projectId>``, which moves
them first. A disabled user cannot log in, their sessions end and their keys stop working.

API keys: the whole key is shown once, on creation; lists show its ``prefix`` only. A key gets no
scope its creator lacks: neither one the calling key lacks, nor ``admin`` for a member.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from relayflow.access.model import ApiKey, InstanceRole, Principal, Scope, User
from relayflow.access.service import API_KEY_PREFIX, user_scopes
from relayflow.api.auth import EMAIL, NAME, PASSWORD, UserOut, client_ip, user_json
from relayflow.api.authz import move_objects
from relayflow.api.deps import NO_NUL, JsonResponse, PathId, Services
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal, require_scope
from relayflow.api.services import ApiServices
from relayflow.errors import Conflict, Forbidden, InputInvalid, NotFound

router = APIRouter(tags=["users"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(Body):
    email: str = EMAIL
    name: str = NAME
    password: str = PASSWORD
    role: InstanceRole = InstanceRole.MEMBER


class UserPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    role: InstanceRole | None = None
    disabled: bool | None = None


class UserList(BaseModel):
    data: list[UserOut]


class ApiKeyIn(Body):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    scopes: list[Scope] = Field(min_length=1)
    expiresAt: datetime | None = None


class ApiKeyOut(BaseModel):
    id: str
    userId: str
    name: str
    scopes: list[Scope]
    prefix: str = Field(description="How the key starts (`rfk_<id>_`), to recognise it.")
    createdAt: datetime
    expiresAt: datetime | None
    revokedAt: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The whole key: shown this once, never again.")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


def require_instance_admin(principal: Principal) -> None:
    if not principal.user.is_instance_admin:
        raise Forbidden("only the instance owner and admins may do this")
    require_scope(principal, Scope.ADMIN)


async def stored_user(services: ApiServices, user_id: str) -> User:
    user = await services.access.store.get_user(user_id)
    if user is None:
        raise NotFound(f"no user {user_id!r}")
    return user


# -- users ----------------------------------------------------------------------------------------


@router.get("/users", response_model=UserList, responses=problems(401, 403))
async def list_users(services: Services, principal: CurrentPrincipal) -> JsonResponse:
    """Every user, oldest first."""
    require_instance_admin(principal)
    return JsonResponse({"data": [user_json(u) for u in await services.access.store.users()]})


@router.post("/users", status_code=201, response_model=UserOut, responses=problems(401, 403, 409, 422))
async def create_user(
    services: Services, principal: CurrentPrincipal, body: UserIn, request: Request
) -> JsonResponse:
    """A new user (with a personal project). There is one owner: the role here is admin or member."""
    require_instance_admin(principal)
    if body.role is InstanceRole.OWNER:
        raise InputInvalid("the instance has one owner: create an admin or a member")
    user = await services.access.create_user(body.email, body.name, body.password, body.role)
    await services.access.audit(
        "user.created",
        principal=principal,
        target_kind="user",
        target_id=user.id,
        ip=client_ip(request),
        detail={"email": user.email, "role": user.role.value},
    )
    return JsonResponse(user_json(user), status_code=201)


@router.get("/users/{user_id}", response_model=UserOut, responses=problems(401, 403, 404))
async def get_user(services: Services, principal: CurrentPrincipal, user_id: PathId) -> JsonResponse:
    require_instance_admin(principal)
    return JsonResponse(user_json(await stored_user(services, user_id)))


def check_change(principal: Principal, target: User, patch: UserPatch) -> None:
    """The rules a patch must follow, beyond the instance-admin check."""
    if target.role is InstanceRole.OWNER:
        if principal.user.id != target.id:
            raise Forbidden("only the owner may change the owner")
        if patch.role not in (None, InstanceRole.OWNER) or patch.disabled:
            raise Conflict("the owner's role cannot change and the owner cannot be disabled")
    if patch.role is InstanceRole.OWNER:
        raise Conflict("the instance already has an owner")
    if target.id == principal.user.id and patch.disabled:
        raise InputInvalid("you cannot disable yourself")


@router.patch("/users/{user_id}", response_model=UserOut, responses=problems(401, 403, 404, 409, 422))
async def update_user(
    services: Services, principal: CurrentPrincipal, user_id: PathId, body: UserPatch, request: Request
) -> JsonResponse:
    """Rename a user, change their instance role, or disable (enable) them."""
    require_instance_admin(principal)
    access = services.access
    target = await stored_user(services, user_id)
    check_change(principal, target, body)
    role = body.role if body.role is not None and body.role != target.role else None
    updated = await access.store.update_user(user_id, name=body.name, role=role, disabled=body.disabled)
    if body.disabled and not target.disabled:
        # a disabled user's logins end now; their keys are refused by the user check
        await access.store.revoke_sessions(user_id, access.now())
    access.changed()
    ip = client_ip(request)
    if role is not None:
        detail = {"from": target.role.value, "to": role.value}
        await access.audit(
            "user.role_changed",
            principal=principal,
            target_kind="user",
            target_id=user_id,
            ip=ip,
            detail=detail,
        )
    changed = {k: v for k, v in (("name", body.name), ("disabled", body.disabled)) if v is not None}
    if changed:
        await access.audit(
            "user.updated", principal=principal, target_kind="user", target_id=user_id, ip=ip, detail=changed
        )
    return JsonResponse(user_json(updated))


@router.delete("/users/{user_id}", status_code=204, responses=problems(401, 403, 404, 409, 422))
async def delete_user(
    services: Services,
    principal: CurrentPrincipal,
    user_id: PathId,
    request: Request,
    transfer_to: Annotated[
        str | None,
        Query(
            alias="transferTo",
            pattern=NO_NUL,
            description="A project to move the user's workflows and credentials to.",
        ),
    ] = None,
) -> Response:
    """Delete a user with their personal project, memberships, keys and sessions. If that project
    owns anything, ``transferTo`` must name where it goes (409 otherwise)."""
    require_instance_admin(principal)
    access = services.access
    target = await stored_user(services, user_id)
    if target.role is InstanceRole.OWNER:
        raise Conflict("the owner cannot be deleted")
    if target.id == principal.user.id:
        raise InputInvalid("you cannot delete yourself")
    personal = target.personal_project_id
    moved: dict[str, int] = {}
    if personal and await access.store.owned_count(personal) > 0:
        if transfer_to is None:
            raise Conflict(
                "the user's personal project still owns workflows or credentials: "
                "pass ?transferTo=<projectId> to move them"
            )
        if transfer_to == personal or await access.store.get_project(transfer_to) is None:
            raise InputInvalid(f"transferTo: no other project {transfer_to!r}")
        moved = await move_objects(services, personal, transfer_to)
    await access.store.delete_user(user_id)
    access.changed()
    services.workflows_changed()
    detail: dict[str, Any] = {"email": target.email}
    if moved:
        detail.update(transferTo=transfer_to, **moved)
    await access.audit(
        "user.deleted",
        principal=principal,
        target_kind="user",
        target_id=user_id,
        ip=client_ip(request),
        detail=detail,
    )
    return Response(status_code=204)


# -- API keys -------------------------------------------------------------------------------------


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "userId": key.user_id,
        "name": key.name,
        "scopes": sorted(s.value for s in key.scopes),
        "prefix": f"{API_KEY_PREFIX}{key.id}_",
        "createdAt": key.created_at,
        "expiresAt": key.expires_at,
        "revokedAt": key.revoked_at,
    }


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, responses=problems(401, 403, 422))
async def create_api_key(
    services: Services, principal: CurrentPrincipal, body: ApiKeyIn, request: Request
) -> JsonResponse:
    """A key for the caller; the answer's ``key`` is the only time the whole key is shown."""
    wanted = frozenset(body.scopes)
    above = wanted - (principal.scopes & user_scopes(principal.user))
    if above:
        names = ", ".join(sorted(s.value for s in above))
        raise Forbidden(f"a key cannot get scopes its creator lacks: {names}")
    issued = await services.access.issue_api_key(principal.user, body.name, wanted, body.expiresAt)
    await services.access.audit(
        "apikey.created",
        principal=principal,
        target_kind="apikey",
        target_id=issued.key.id,
        ip=client_ip(request),
        detail={"name": issued.key.name, "scopes": sorted(s.value for s in wanted)},
    )
    return JsonResponse({**key_json(issued.key), "key": issued.token}, status_code=201)


@router.get("/api-keys", response_model=ApiKeyList, responses=problems(401, 403, 422))
async def list_api_keys(
    services: Services,
    principal: CurrentPrincipal,
    user_id: Annotated[
        str | None, Query(alias="userId", pattern=NO_NUL, description="Another user's (admins only).")
    ] = None,
) -> JsonResponse:
    """The caller's keys (never the keys themselves), oldest first."""
    if user_id is not None and user_id != principal.user.id:
        require_instance_admin(principal)
    keys = await services.access.store.api_keys(user_id or principal.user.id)
    return JsonResponse({"data": [key_json(k) for k in keys]})


@router.delete("/api-keys/{key_id}", status_code=204, responses=problems(401, 403, 404))
async def revoke_api_key(
    services: Services, principal: CurrentPrincipal, key_id: PathId, request: Request
) -> Response:
    """Revoke a key at once (one's own; admins any). A revoked key stays listed."""
    key = await services.access.store.get_api_key(key_id)
    if key is None or (key.user_id != principal.user.id and not principal.user.is_instance_admin):
        raise NotFound(f"no API key {key_id!r}")
    if key.user_id != principal.user.id:
        require_scope(principal, Scope.ADMIN)
    if await services.access.revoke_api_key(key_id):
        await services.access.audit(
            "apikey.revoked",
            principal=principal,
            target_kind="apikey",
            target_id=key_id,
            ip=client_ip(request),
            detail={"userId": key.user_id, "name": key.name},
        )
    return Response(status_code=204)
