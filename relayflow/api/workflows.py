"""``/workflows``: create, list, read, replace, patch, delete, activate, versions, export, share,
transfer.

Each workflow belongs to one project (the access store keeps its owner and shares); reading
needs the viewer role there, changing and running editor, sharing and moving admin of the
owning project (see api/authz.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from relayflow.access.model import ObjectKind, Principal, ProjectRole
from relayflow.api import authz
from relayflow.api.bodies import (
    RollbackRequest,
    WorkflowBody,
    export_json,
    page_json,
    strip_meta,
    version_json,
    workflow_json,
)
from relayflow.api.credential_refs import credentials_report
from relayflow.api.deps import NO_NUL, JsonResponse, PathId, Services, text_query
from relayflow.api.schemas import (
    WORKFLOW_EXAMPLE,
    DocumentedAs,
    TestWebhooks,
    VersionList,
    VersionOut,
    WorkflowExport,
    WorkflowIn,
    WorkflowOut,
    WorkflowPage,
    WorkflowPatch,
    problems,
)
from relayflow.api.security import CurrentPrincipal
from relayflow.api.services import ApiServices
from relayflow.api.webhook_routes import load_routes, registrations, replace
from relayflow.errors import InputInvalid, NotFound
from relayflow.store.ports import StoredWorkflow, WorkflowQuery
from relayflow.triggers.webhooks import Registration

router = APIRouter(prefix="/workflows", tags=["workflows"])

WorkflowJson = Annotated[
    dict[str, Any],
    DocumentedAs(WorkflowIn),
    Body(
        description="A workflow in n8n's export shape (n8n exports included).",
        openapi_examples={"hello": {"summary": "Manual trigger, then Set", "value": WORKFLOW_EXAMPLE}},
    ),
]
WorkflowFields = Annotated[
    dict[str, Any], DocumentedAs(WorkflowPatch), Body(description="The top-level fields to replace.")
]
Limit = Annotated[int, Query(ge=1, le=250, description="Page size.")]
Cursor = Annotated[str | None, text_query("`nextCursor` of the previous page.")]
ProjectParam = Annotated[
    str | None, text_query("The project to create it in; the caller's personal project if absent.")
]
WORKFLOW = ObjectKind.WORKFLOW.value


class ShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projectIds: list[Annotated[str, Field(pattern=NO_NUL)]] = Field(
        max_length=100, description="Every project the workflow is shared with (replaces the list)."
    )


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projectId: str = Field(pattern=NO_NUL, description="The project that will own the workflow.")


async def stored_workflow(services: Services, workflow_id: str) -> StoredWorkflow:
    """The workflow, without an authorization check (callers have done theirs)."""
    wf = await services.workflows.get(workflow_id)
    if wf is None:
        raise NotFound(f"no workflow {workflow_id!r}")
    return wf


async def owned_json(services: ApiServices, stored: StoredWorkflow) -> dict[str, Any]:
    """The workflow's JSON with its owning project and the projects it is shared with."""
    store = services.access.store
    return {
        **workflow_json(stored),
        "projectId": await store.owner_of(ObjectKind.WORKFLOW, stored.id),
        "sharedWith": sorted(await store.shares_of(ObjectKind.WORKFLOW, stored.id)),
    }


async def access(
    services: ApiServices, principal: Principal, workflow_id: str, need: ProjectRole = ProjectRole.VIEWER
) -> StoredWorkflow:
    return await authz.workflow_access(services, principal, workflow_id, need)


@router.post("", status_code=201, response_model=WorkflowOut, responses=problems(403, 404, 422))
async def create_workflow(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    body: WorkflowJson,
    projectId: ProjectParam = None,
) -> JsonResponse:
    """Store a new workflow (validated; it starts inactive) in the project `projectId` (the
    editor role there is needed), or in the caller's personal project."""
    project_id = projectId or principal.user.personal_project_id
    if not project_id:
        raise InputInvalid("projectId: the caller has no personal project; name a project")
    await authz.project_access(services, principal, project_id, ProjectRole.EDITOR)
    wf = WorkflowBody(body, services.registry)
    # n8n imports: credential references resolved against the project (ids rewritten by name)
    report = await credentials_report(services.access.store, wf.data, project_id)
    stored = await services.workflows.create(wf.data, tags=wf.tags or ())
    await services.access.store.set_owner(ObjectKind.WORKFLOW, stored.id, project_id)
    await authz.audit(
        services,
        request,
        principal,
        "workflow.created",
        target_kind=WORKFLOW,
        target_id=stored.id,
        projectId=project_id,
        name=stored.name,
    )
    answer = await owned_json(services, stored)
    if report is not None:
        answer["credentialsReport"] = report
    return JsonResponse(answer, status_code=201)


@router.get("", response_model=WorkflowPage, responses=problems(422))
async def list_workflows(
    services: Services,
    principal: CurrentPrincipal,
    name: Annotated[str | None, text_query("Case-insensitive part of the name.")] = None,
    tag: Annotated[str | None, text_query()] = None,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JsonResponse:
    """The workflows the caller may see (owned by or shared with their projects), most recently
    updated first; each with its owning `projectId`."""
    ids = await authz.visible_workflow_ids(services, principal)
    query = WorkflowQuery(name=name, tag=tag, active=active, limit=limit, cursor=cursor, ids=ids)
    page = await services.workflows.find(query)
    owners = await services.access.store.owners_of(ObjectKind.WORKFLOW, [w.id for w in page.items])
    items = [{**workflow_json(w), "projectId": owners.get(w.id)} for w in page.items]
    return JsonResponse(page_json(page, items))


@router.get("/{workflow_id}", response_model=WorkflowOut, responses=problems(404))
async def get_workflow(services: Services, principal: CurrentPrincipal, workflow_id: PathId) -> JsonResponse:
    return JsonResponse(await owned_json(services, await access(services, principal, workflow_id)))


async def claim_paths(services: ApiServices, workflow_id: str, regs: Sequence[Registration]) -> None:
    """Record in the registry (the database, under the server) that the workflow holds these
    webhook paths: a path another workflow holds, in any process, is a 409 Conflict."""
    if regs:
        await services.webhook_registry.register(workflow_id, [(r.method, r.path, r.node) for r in regs])
    else:
        await services.webhook_registry.unregister(workflow_id)


async def save(services: Services, current: StoredWorkflow, wf: WorkflowBody) -> StoredWorkflow:
    """Store ``wf`` over ``current``; an active workflow's webhooks move to the new version first
    (a path taken by another workflow answers 409 and nothing changes)."""
    table = await load_routes(services)
    old = registrations(current.id, current.data, services.registry) if current.active else []
    new = registrations(current.id, wf.data, services.registry) if current.active else []
    if current.active:
        replace(table, current.id, new, old)
    try:
        if current.active:
            await claim_paths(services, current.id, new)
        stored = await services.workflows.update(
            current.id, wf.data, expected_version=wf.version_id, tags=wf.tags
        )
    except BaseException:
        if current.active:
            replace(table, current.id, old)
            await claim_paths(services, current.id, old)
        raise
    services.workflows_changed()
    return stored


async def saved(
    services: ApiServices, request: Request, principal: Principal, stored: StoredWorkflow
) -> JsonResponse:
    await authz.audit(
        services,
        request,
        principal,
        "workflow.updated",
        target_kind=WORKFLOW,
        target_id=stored.id,
        versionId=stored.version_id,
    )
    return JsonResponse(await owned_json(services, stored))


@router.put("/{workflow_id}", response_model=WorkflowOut, responses=problems(403, 404, 409, 422))
async def replace_workflow(
    services: Services, principal: CurrentPrincipal, request: Request, workflow_id: PathId, body: WorkflowJson
) -> JsonResponse:
    """Replace the workflow; a `versionId` other than the current one answers 409."""
    current = await access(services, principal, workflow_id, ProjectRole.EDITOR)
    stored = await save(services, current, WorkflowBody(body, services.registry))
    return await saved(services, request, principal, stored)


@router.patch("/{workflow_id}", response_model=WorkflowOut, responses=problems(403, 404, 409, 422))
async def patch_workflow(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    workflow_id: PathId,
    body: WorkflowFields,
) -> JsonResponse:
    """Replace the top-level fields sent, keep the others."""
    current = await access(services, principal, workflow_id, ProjectRole.EDITOR)
    stored = await save(
        services, current, WorkflowBody({**strip_meta(current.data), **body}, services.registry)
    )
    return await saved(services, request, principal, stored)


@router.delete("/{workflow_id}", status_code=204, responses=problems(403, 404))
async def delete_workflow(
    services: Services, principal: CurrentPrincipal, request: Request, workflow_id: PathId
) -> Response:
    """Delete the workflow and its versions (its executions stay, for instance admins)."""
    await authz.check_workflow(services, principal, workflow_id, ProjectRole.EDITOR)
    if not await services.workflows.delete(workflow_id):
        raise NotFound(f"no workflow {workflow_id!r}")
    await services.access.store.forget(ObjectKind.WORKFLOW, workflow_id)
    await services.webhook_registry.unregister(workflow_id)
    (await load_routes(services)).remove_workflow(workflow_id)
    services.test_routes.remove_workflow(workflow_id)
    services.workflows_changed()
    await authz.audit(
        services, request, principal, "workflow.deleted", target_kind=WORKFLOW, target_id=workflow_id
    )
    return Response(status_code=204)


@router.post("/{workflow_id}/activate", response_model=WorkflowOut, responses=problems(403, 404, 409, 422))
async def activate_workflow(
    services: Services, principal: CurrentPrincipal, request: Request, workflow_id: PathId
) -> JsonResponse:
    """Register the workflow's webhooks, then mark it active; a webhook path another active
    workflow uses answers 409 and the workflow stays as it was."""
    current = await access(services, principal, workflow_id, ProjectRole.EDITOR)
    table = await load_routes(services)
    old = registrations(workflow_id, current.data, services.registry) if current.active else []
    new = registrations(workflow_id, current.data, services.registry)
    replace(table, workflow_id, new, old)
    try:
        await claim_paths(services, workflow_id, new)
        stored = await services.workflows.set_active(workflow_id, True)
    except BaseException:
        replace(table, workflow_id, old)
        await claim_paths(services, workflow_id, old)
        raise
    services.workflows_changed()
    await authz.audit(
        services, request, principal, "workflow.activated", target_kind=WORKFLOW, target_id=workflow_id
    )
    return JsonResponse(await owned_json(services, stored))


@router.post("/{workflow_id}/deactivate", response_model=WorkflowOut, responses=problems(403, 404))
async def deactivate_workflow(
    services: Services, principal: CurrentPrincipal, request: Request, workflow_id: PathId
) -> JsonResponse:
    await authz.check_workflow(services, principal, workflow_id, ProjectRole.EDITOR)
    stored = await services.workflows.set_active(workflow_id, False)
    await services.webhook_registry.unregister(workflow_id)
    (await load_routes(services)).remove_workflow(workflow_id)
    services.workflows_changed()
    await authz.audit(
        services, request, principal, "workflow.deactivated", target_kind=WORKFLOW, target_id=workflow_id
    )
    return JsonResponse(await owned_json(services, stored))


@router.post(
    "/{workflow_id}/test-webhook", response_model=TestWebhooks, responses=problems(403, 404, 409, 422)
)
async def arm_test_webhook(
    services: Services, principal: CurrentPrincipal, workflow_id: PathId
) -> JsonResponse:
    """Listen once at `/webhook-test/<path>` for each Webhook node (active or not); the next
    request there that passes the node's checks (authentication, IP allow-list) runs the workflow
    in mode `manual` and disarms the listener."""
    current = await access(services, principal, workflow_id, ProjectRole.EDITOR)
    regs = registrations(workflow_id, current.data, services.registry)
    if not regs:
        raise InputInvalid(f"workflow {workflow_id!r} has no enabled Webhook node")
    replace(services.test_routes, workflow_id, regs)
    urls = [{"method": r.method, "path": r.path, "url": f"/webhook-test/{r.path}"} for r in regs]
    return JsonResponse({"webhooks": urls})


@router.get("/{workflow_id}/versions", response_model=VersionList, responses=problems(404))
async def list_versions(services: Services, principal: CurrentPrincipal, workflow_id: PathId) -> JsonResponse:
    """Every saved version, newest first, without the workflow JSON."""
    await authz.check_workflow(services, principal, workflow_id, ProjectRole.VIEWER)
    versions = await services.workflows.versions(workflow_id)
    return JsonResponse({"data": [version_json(v, with_data=False) for v in versions]})


@router.get("/{workflow_id}/versions/{version_id}", response_model=VersionOut, responses=problems(404))
async def get_version(
    services: Services, principal: CurrentPrincipal, workflow_id: PathId, version_id: PathId
) -> JsonResponse:
    await authz.check_workflow(services, principal, workflow_id, ProjectRole.VIEWER)
    version = await services.workflows.version(workflow_id, version_id)
    if version is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {version_id!r}")
    return JsonResponse(version_json(version, with_data=True))


@router.post("/{workflow_id}/rollback", response_model=WorkflowOut, responses=problems(403, 404, 409, 422))
async def rollback_workflow(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    workflow_id: PathId,
    body: RollbackRequest,
) -> JsonResponse:
    """Save an earlier version as the newest one."""
    await access(services, principal, workflow_id, ProjectRole.EDITOR)
    version = await services.workflows.version(workflow_id, body.versionId)
    if version is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {body.versionId!r}")
    current = await stored_workflow(services, workflow_id)
    wf = WorkflowBody(strip_meta(version.data), services.registry)
    return await saved(services, request, principal, await save(services, current, wf))


@router.get("/{workflow_id}/export", response_model=WorkflowExport, responses=problems(404))
async def export_workflow(
    services: Services, principal: CurrentPrincipal, workflow_id: PathId
) -> JsonResponse:
    """The workflow as n8n exports it."""
    return JsonResponse(export_json(await access(services, principal, workflow_id)))


@router.put("/{workflow_id}/share", response_model=WorkflowOut, responses=problems(403, 404, 422))
async def share_workflow(
    services: Services, principal: CurrentPrincipal, request: Request, workflow_id: PathId, body: ShareRequest
) -> JsonResponse:
    """Share the workflow with these projects (replacing the list; `[]` stops sharing): their
    members get their own project role over it. Needs the admin role in the owning project and
    membership in each project named (instance admins: any project)."""
    stored = await authz.workflow_access(services, principal, workflow_id, ProjectRole.ADMIN, direct=True)
    store = services.access.store
    owner = await store.owner_of(ObjectKind.WORKFLOW, workflow_id)
    wanted = await authz.target_projects(services, principal, body.projectIds)
    await store.set_shares(ObjectKind.WORKFLOW, workflow_id, [p for p in wanted if p != owner])
    await authz.audit(
        services,
        request,
        principal,
        "workflow.shared",
        target_kind=WORKFLOW,
        target_id=workflow_id,
        projectIds=wanted,
    )
    services.workflows_changed()  # the credentials it may use changed with its projects
    return JsonResponse(await owned_json(services, stored))


@router.put("/{workflow_id}/transfer", response_model=WorkflowOut, responses=problems(403, 404, 422))
async def transfer_workflow(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    workflow_id: PathId,
    body: TransferRequest,
) -> JsonResponse:
    """Move the workflow to another project (it stops being shared with that one). Needs the
    admin role in the owning project and membership in the target (instance admins: any)."""
    stored = await authz.workflow_access(services, principal, workflow_id, ProjectRole.ADMIN, direct=True)
    store = services.access.store
    source = await store.owner_of(ObjectKind.WORKFLOW, workflow_id)
    (target,) = await authz.target_projects(services, principal, [body.projectId])
    await store.set_owner(ObjectKind.WORKFLOW, workflow_id, target)
    shares = await store.shares_of(ObjectKind.WORKFLOW, workflow_id)
    if target in shares:
        await store.set_shares(ObjectKind.WORKFLOW, workflow_id, shares - {target})
    await authz.audit(
        services,
        request,
        principal,
        "workflow.moved",
        target_kind=WORKFLOW,
        target_id=workflow_id,
        fromProjectId=source,
        toProjectId=target,
    )
    services.workflows_changed()  # the credentials it may use changed with its projects
    return JsonResponse(await owned_json(services, stored))
