"""``/projects``: the projects a caller is in, team projects and their members.

Every user has a personal project, made and deleted with the user, whose only member is that
user. Team projects are made by instance owners and admins (as n8n does), who become
their admins. A project admin renames and deletes the project; changing members also needs an
API key with the ``admin`` scope. A project the caller is not in answers 404 (instance owners and
admins are in every project).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from relayflow.access.model import (
    Member,
    Principal,
    Project,
    ProjectKind,
    ProjectRole,
    Scope,
    User,
)
from relayflow.api import authz
from relayflow.api.deps import NO_NUL, JsonResponse, PathId, Services, text_query
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal, require_scope
from relayflow.api.services import ApiServices
from relayflow.errors import Conflict, Forbidden, InputInvalid, NotFound

router = APIRouter(prefix="/projects", tags=["projects"])

PROJECT = "project"


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=NO_NUL)


class ProjectOut(BaseModel):
    id: str
    name: str
    type: ProjectKind = Field(description="`personal` (one per user) or `team`.")
    createdAt: str
    ownerId: str | None = Field(default=None, description="The user of a personal project.")
    role: ProjectRole | None = Field(
        default=None, description="The caller's role here (instance owners and admins: `admin`)."
    )


class ProjectList(BaseModel):
    data: list[ProjectOut]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ProjectRole


class MemberOut(BaseModel):
    userId: str
    email: str
    name: str
    role: ProjectRole


class MemberList(BaseModel):
    data: list[MemberOut]


def project_json(project: Project, principal: Principal) -> dict[str, Any]:
    role = principal.role_in(project.id)
    return {
        "id": project.id,
        "name": project.name,
        "type": project.kind.value,
        "createdAt": project.created_at.isoformat(),
        "ownerId": project.owner_id,
        "role": role.value if role is not None else None,
    }


def member_json(member: Member, user: User | None) -> dict[str, Any]:
    return {
        "userId": member.user_id,
        "email": user.email if user is not None else "",
        "name": user.name if user is not None else "",
        "role": member.role.value,
    }


def project_name(body: ProjectIn) -> str:
    name = body.name.strip()
    if not name:
        raise InputInvalid("name: a project needs a name")
    return name


def team_only(project: Project, what: str) -> None:
    if project.kind is ProjectKind.PERSONAL:
        raise Conflict(f"a personal project cannot {what}")


@router.get("", response_model=ProjectList)
async def list_projects(services: Services, principal: CurrentPrincipal) -> JsonResponse:
    """The projects the caller is a member of (every project for instance owners and admins),
    oldest first."""
    store = services.access.store
    wanted = None if principal.user.is_instance_admin else list(principal.projects)
    projects = await store.projects(wanted)
    return JsonResponse({"data": [project_json(p, principal) for p in projects]})


@router.post("", status_code=201, response_model=ProjectOut, responses=problems(403, 422))
async def create_project(
    services: Services, principal: CurrentPrincipal, request: Request, body: ProjectIn
) -> JsonResponse:
    """A team project, made by an instance owner or admin (an API key with the `admin` scope),
    who becomes its admin."""
    if not principal.user.is_instance_admin:
        raise Forbidden("team projects are made by instance owners and admins")
    require_scope(principal, Scope.ADMIN)
    store = services.access.store
    project = await store.create_project(project_name(body), ProjectKind.TEAM)
    await store.set_member(project.id, principal.user.id, ProjectRole.ADMIN)
    services.access.changed()
    await authz.audit(
        services,
        request,
        principal,
        "project.created",
        target_kind=PROJECT,
        target_id=project.id,
        name=project.name,
    )
    return JsonResponse(project_json(project, principal), status_code=201)


@router.get("/{project_id}", response_model=ProjectOut, responses=problems(404))
async def get_project(services: Services, principal: CurrentPrincipal, project_id: PathId) -> JsonResponse:
    project = await authz.project_access(services, principal, project_id)
    return JsonResponse(project_json(project, principal))


@router.patch("/{project_id}", response_model=ProjectOut, responses=problems(403, 404, 409, 422))
async def rename_project(
    services: Services, principal: CurrentPrincipal, request: Request, project_id: PathId, body: ProjectIn
) -> JsonResponse:
    """Rename a team project (its admins); a personal project is named after its user (409)."""
    project = await authz.project_access(services, principal, project_id, ProjectRole.ADMIN)
    team_only(project, "be renamed")
    renamed = await services.access.store.rename_project(project_id, project_name(body))
    await authz.audit(
        services,
        request,
        principal,
        "project.updated",
        target_kind=PROJECT,
        target_id=project_id,
        name=renamed.name,
    )
    return JsonResponse(project_json(renamed, principal))


@router.delete("/{project_id}", status_code=204, responses=problems(403, 404, 409, 422))
async def delete_project(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    project_id: PathId,
    transferTo: Annotated[
        str | None, text_query("Move the project's workflows and credentials to this project first.")
    ] = None,
) -> Response:
    """Delete a team project (its admins). One that still owns workflows or credentials answers
    409 unless `transferTo` names a project of the caller to move them to. Personal projects are
    deleted with their user only (409)."""
    project = await authz.project_access(services, principal, project_id, ProjectRole.ADMIN)
    team_only(project, "be deleted (it goes with its user)")
    store = services.access.store
    moved: dict[str, int] = {}
    if transferTo is not None:
        if transferTo == project_id:
            raise Conflict("transferTo names the project being deleted")
        await authz.project_access(services, principal, transferTo)
        moved = await authz.move_objects(services, project_id, transferTo)
    elif await store.owned_count(project_id) > 0:
        raise Conflict(
            f"project {project_id!r} still owns workflows or credentials: move them or pass transferTo"
        )
    await store.delete_project(project_id)
    services.access.changed()
    await authz.audit(
        services,
        request,
        principal,
        "project.deleted",
        target_kind=PROJECT,
        target_id=project_id,
        name=project.name,
        transferTo=transferTo,
        moved=moved,
    )
    return Response(status_code=204)


# members -----------------------------------------------------------------------------------------


@router.get("/{project_id}/members", response_model=MemberList, responses=problems(404))
async def list_members(services: Services, principal: CurrentPrincipal, project_id: PathId) -> JsonResponse:
    """The project's members and their roles (any member may read them)."""
    await authz.project_access(services, principal, project_id)
    store = services.access.store
    members = await store.members(project_id)
    users = [await store.get_user(m.user_id) for m in members]
    return JsonResponse({"data": [member_json(m, u) for m, u in zip(members, users, strict=True)]})


async def _member_admin(services: ApiServices, principal: Principal, project_id: str) -> Project:
    project = await authz.project_access(services, principal, project_id, ProjectRole.ADMIN)
    require_scope(principal, Scope.ADMIN)
    team_only(project, "have members besides its user")
    return project


async def _keep_an_admin(services: ApiServices, project_id: str, user_id: str) -> None:
    """Refuse a change that would leave a team project without an admin."""
    admins = [
        m.user_id for m in await services.access.store.members(project_id) if m.role is ProjectRole.ADMIN
    ]
    if admins == [user_id]:
        raise Conflict("a team project keeps at least one admin")


@router.put(
    "/{project_id}/members/{user_id}", response_model=MemberOut, responses=problems(403, 404, 409, 422)
)
async def set_member(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    project_id: PathId,
    user_id: PathId,
    body: MemberIn,
) -> JsonResponse:
    """Add the user to the project with this role, or change their role (project admins, with an
    API key of the `admin` scope)."""
    await _member_admin(services, principal, project_id)
    store = services.access.store
    user = await store.get_user(user_id)
    if user is None:
        raise NotFound(f"no user {user_id!r}")
    if body.role is not ProjectRole.ADMIN:
        await _keep_an_admin(services, project_id, user_id)
    member = await store.set_member(project_id, user_id, body.role)
    services.access.changed()
    await authz.audit(
        services,
        request,
        principal,
        "project.member_set",
        target_kind=PROJECT,
        target_id=project_id,
        userId=user_id,
        role=body.role.value,
    )
    return JsonResponse(member_json(member, user))


@router.delete("/{project_id}/members/{user_id}", status_code=204, responses=problems(403, 404, 409))
async def remove_member(
    services: Services, principal: CurrentPrincipal, request: Request, project_id: PathId, user_id: PathId
) -> Response:
    """Take the user out of the project (project admins, with an API key of the `admin` scope)."""
    await _member_admin(services, principal, project_id)
    await _keep_an_admin(services, project_id, user_id)
    if not await services.access.store.remove_member(project_id, user_id):
        raise NotFound(f"user {user_id!r} is not a member of project {project_id!r}")
    services.access.changed()
    await authz.audit(
        services,
        request,
        principal,
        "project.member_removed",
        target_kind=PROJECT,
        target_id=project_id,
        userId=user_id,
    )
    return Response(status_code=204)
