"""Authorization of the routes: who may see and change which workflow, execution and project.

The rules live in ``relayflow/access/model.py`` (``object_role``); this module applies them to
the stores. Routes call these helpers instead of reading a store themselves:

- ``workflow_access(services, principal, id, need)``: the workflow, or NotFound when the caller
  cannot see it (the same answer as a missing one) and Forbidden when their role is below
  ``need``. ``direct=True`` asks for a role in the owning project (sharing, moving): a role that
  comes through a share does not do.
- ``execution_access``: the same through the execution's workflow; an execution whose workflow
  has no owner (deleted, or made before there were users) is for instance owners and admins only.
- ``visible_workflow_ids``: the filter of the lists (None for instance admins: everything).
- ``project_access``: a project by the caller's membership.

Instance owners and admins act as project admins everywhere (their API key's scopes still cap
what they may do: security.py refuses writes with a read key).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import Request

from relayflow.access.model import (
    InstanceRole,
    ObjectKind,
    Principal,
    Project,
    ProjectRole,
    User,
    object_role,
)
from relayflow.api.services import ApiServices
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import Forbidden, NotFound
from relayflow.store.ports import StoredWorkflow, WorkflowQuery

log = logging.getLogger("relayflow.api")

ADOPT_PAGE = 250


def missing_workflow(workflow_id: str) -> NotFound:
    return NotFound(f"no workflow {workflow_id!r}")


def missing_execution(execution_id: str) -> NotFound:
    return NotFound(f"no execution {execution_id!r}")


def missing_project(project_id: str) -> NotFound:
    return NotFound(f"no project {project_id!r}")


def too_small(need: ProjectRole, what: str) -> Forbidden:
    return Forbidden(f"this needs the {need.value} role in the project that owns the {what}")


async def workflow_role(
    services: ApiServices, principal: Principal, workflow_id: str
) -> tuple[ProjectRole | None, bool]:
    """The caller's role over the workflow (None: invisible to them), and whether it comes
    through the owning project rather than a share."""
    if principal.user.is_instance_admin:  # no store read: admins see everything
        return ProjectRole.ADMIN, True
    store = services.access.store
    owner = await store.owner_of(ObjectKind.WORKFLOW, workflow_id)
    shares = await store.shares_of(ObjectKind.WORKFLOW, workflow_id)
    return object_role(principal, ObjectKind.WORKFLOW, owner, shares)


async def check_workflow(
    services: ApiServices,
    principal: Principal,
    workflow_id: str,
    need: ProjectRole,
    *,
    direct: bool = False,
) -> None:
    """Raise unless the caller has ``need`` over the workflow (whether or not it exists)."""
    role, through_owner = await workflow_role(services, principal, workflow_id)
    if role is None:
        raise missing_workflow(workflow_id)
    if role.rank < need.rank or (direct and not through_owner):
        raise too_small(need, "workflow")


async def workflow_access(
    services: ApiServices,
    principal: Principal,
    workflow_id: str,
    need: ProjectRole = ProjectRole.VIEWER,
    *,
    direct: bool = False,
) -> StoredWorkflow:
    """The workflow if the caller may act on it with ``need``: NotFound when it does not exist
    or they cannot see it (one answer for both), Forbidden when their role is too small."""
    stored = await services.workflows.get(workflow_id)
    if stored is None:
        raise missing_workflow(workflow_id)
    await check_workflow(services, principal, workflow_id, need, direct=direct)
    return stored


async def can_see_workflow(services: ApiServices, principal: Principal, workflow_id: str | None) -> bool:
    """Whether the workflow's executions and events are the caller's to see."""
    if principal.user.is_instance_admin:
        return True
    if workflow_id is None:
        return False
    role, _ = await workflow_role(services, principal, workflow_id)
    return role is not None


async def execution_access(
    services: ApiServices,
    principal: Principal,
    execution_id: str,
    need: ProjectRole = ProjectRole.VIEWER,
) -> ExecutionRecord:
    """The execution if the caller may act on it with ``need`` (their role over its workflow)."""
    record = await services.executions.get(execution_id)
    if record is None:
        raise missing_execution(execution_id)
    if principal.user.is_instance_admin:
        return record
    role = None
    if record.workflow_id is not None:
        role, _ = await workflow_role(services, principal, record.workflow_id)
    if role is None:
        raise missing_execution(execution_id)
    if role.rank < need.rank:
        raise too_small(need, "execution's workflow")
    return record


async def visible_workflow_ids(services: ApiServices, principal: Principal) -> frozenset[str] | None:
    """The ids of the workflows the caller may see, for the lists' filter; None: all of them."""
    if principal.user.is_instance_admin:
        return None
    return frozenset(await services.access.store.visible(ObjectKind.WORKFLOW, principal.projects))


# projects ---------------------------------------------------------------------------------------


async def project_access(
    services: ApiServices, principal: Principal, project_id: str, need: ProjectRole = ProjectRole.VIEWER
) -> Project:
    """The project if the caller is in it with at least ``need`` (instance admins: always);
    NotFound when it does not exist or they are not a member."""
    project = await services.access.store.get_project(project_id)
    role = principal.role_in(project_id)
    if project is None or role is None:
        raise missing_project(project_id)
    if role.rank < need.rank:
        raise Forbidden(f"this needs the {need.value} role in the project")
    return project


async def target_projects(
    services: ApiServices, principal: Principal, project_ids: Iterable[str]
) -> list[str]:
    """Projects an object is shared with or moved to: each must exist and (but for instance
    admins) have the caller as a member; otherwise NotFound, as for any project they cannot see."""
    out: list[str] = []
    for project_id in dict.fromkeys(project_ids):
        await project_access(services, principal, project_id)
        out.append(project_id)
    return out


async def audit(
    services: ApiServices,
    request: Request,
    principal: Principal,
    action: str,
    *,
    target_kind: str,
    target_id: str,
    **detail: Any,
) -> None:
    """One line of the audit log for a change made through the API (never secret values)."""
    await services.access.audit(
        action,
        principal=principal,
        target_kind=target_kind,
        target_id=target_id,
        ip=request.client.host if request.client is not None else None,
        detail=detail,
    )


# adoption of objects made before there were users -----------------------------------------------


async def adopt_unowned_workflows(services: ApiServices, user: User) -> int:
    """Give every workflow without an owning project to ``user``'s personal project (the owner,
    once created): workflows made while the instance had no users, or imported by the CLI.
    Returns how many were adopted."""
    if not user.personal_project_id:
        return 0
    adopted, cursor = 0, None
    while True:
        page = await services.workflows.find(WorkflowQuery(limit=ADOPT_PAGE, cursor=cursor))
        ids = [w.id for w in page.items]
        if ids:
            adopted += await services.access.store.adopt_unowned(
                ObjectKind.WORKFLOW, ids, user.personal_project_id
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    if adopted:
        log.info("%d workflow(s) without an owner moved to %s's personal project", adopted, user.email)
    return adopted


async def adopt_at_start(services: ApiServices) -> int:
    """At server start: once the instance has an owner, workflows left without one (a CLI
    import while no server ran) go to the owner's personal project."""
    owner = next((u for u in await services.access.store.users() if u.role is InstanceRole.OWNER), None)
    return 0 if owner is None else await adopt_unowned_workflows(services, owner)


async def move_objects(services: ApiServices, source: str, target: str) -> dict[str, int]:
    """Give every workflow and credential the ``source`` project owns to ``target`` (a project
    being deleted, or a user's personal one); a share with ``target`` ends, as it would own
    them. Counts by kind."""
    store = services.access.store
    owners = await store.owners_of(ObjectKind.WORKFLOW, await store.visible(ObjectKind.WORKFLOW, [source]))
    moved = {
        ObjectKind.WORKFLOW: [wid for wid, owner in owners.items() if owner == source],
        ObjectKind.CREDENTIAL: [c.id for c in await store.credentials([source])],
    }
    for kind, object_ids in moved.items():
        for object_id in object_ids:
            await store.set_owner(kind, object_id, target)
            shares = await store.shares_of(kind, object_id)
            if target in shares:
                await store.set_shares(kind, object_id, shares - {target})
    services.workflows_changed()  # credential resolutions cached by the vault are stale now
    return {"workflows": len(moved[ObjectKind.WORKFLOW]), "credentials": len(moved[ObjectKind.CREDENTIAL])}
