"""``/workflows``: create, list, read, replace, patch, delete, activate, versions, export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from relayflow.api.bodies import (
    RollbackRequest,
    WorkflowBody,
    export_json,
    page_json,
    strip_meta,
    version_json,
    workflow_json,
)
from relayflow.api.deps import JsonResponse, PathId, Services, text_query
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


async def stored_workflow(services: Services, workflow_id: str) -> StoredWorkflow:
    wf = await services.workflows.get(workflow_id)
    if wf is None:
        raise NotFound(f"no workflow {workflow_id!r}")
    return wf


@router.post("", status_code=201, response_model=WorkflowOut, responses=problems(422))
async def create_workflow(services: Services, body: WorkflowJson) -> JsonResponse:
    """Store a new workflow (validated; it starts inactive)."""
    wf = WorkflowBody(body, services.registry)
    stored = await services.workflows.create(wf.data, tags=wf.tags or ())
    return JsonResponse(workflow_json(stored), status_code=201)


@router.get("", response_model=WorkflowPage, responses=problems(422))
async def list_workflows(
    services: Services,
    name: Annotated[str | None, text_query("Case-insensitive part of the name.")] = None,
    tag: Annotated[str | None, text_query()] = None,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JsonResponse:
    """Workflows, most recently updated first."""
    query = WorkflowQuery(name=name, tag=tag, active=active, limit=limit, cursor=cursor)
    page = await services.workflows.find(query)
    return JsonResponse(page_json(page, [workflow_json(w) for w in page.items]))


@router.get("/{workflow_id}", response_model=WorkflowOut, responses=problems(404))
async def get_workflow(services: Services, workflow_id: PathId) -> JsonResponse:
    return JsonResponse(workflow_json(await stored_workflow(services, workflow_id)))


async def claim_paths(services: ApiServices, workflow_id: str, regs: Sequence[Registration]) -> None:
    """Record in the registry (the database, under the server) that the workflow holds these
    webhook paths: a path another workflow holds, in any process, is a 409 Conflict."""
    if regs:
        await services.webhook_registry.register(workflow_id, [(r.method, r.path, r.node) for r in regs])
    else:
        await services.webhook_registry.unregister(workflow_id)


async def save(services: Services, current: StoredWorkflow, wf: WorkflowBody) -> JsonResponse:
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
    return JsonResponse(workflow_json(stored))


@router.put("/{workflow_id}", response_model=WorkflowOut, responses=problems(404, 409, 422))
async def replace_workflow(services: Services, workflow_id: PathId, body: WorkflowJson) -> JsonResponse:
    """Replace the workflow; a `versionId` other than the current one answers 409."""
    current = await stored_workflow(services, workflow_id)
    return await save(services, current, WorkflowBody(body, services.registry))


@router.patch("/{workflow_id}", response_model=WorkflowOut, responses=problems(404, 409, 422))
async def patch_workflow(services: Services, workflow_id: PathId, body: WorkflowFields) -> JsonResponse:
    """Replace the top-level fields sent, keep the others."""
    current = await stored_workflow(services, workflow_id)
    return await save(
        services, current, WorkflowBody({**strip_meta(current.data), **body}, services.registry)
    )


@router.delete("/{workflow_id}", status_code=204, responses=problems(404))
async def delete_workflow(services: Services, workflow_id: PathId) -> Response:
    if not await services.workflows.delete(workflow_id):
        raise NotFound(f"no workflow {workflow_id!r}")
    await services.webhook_registry.unregister(workflow_id)
    (await load_routes(services)).remove_workflow(workflow_id)
    services.test_routes.remove_workflow(workflow_id)
    services.workflows_changed()
    return Response(status_code=204)


@router.post("/{workflow_id}/activate", response_model=WorkflowOut, responses=problems(404, 409, 422))
async def activate_workflow(services: Services, workflow_id: PathId) -> JsonResponse:
    """Register the workflow's webhooks, then mark it active; a webhook path another active
    workflow uses answers 409 and the workflow stays as it was."""
    current = await stored_workflow(services, workflow_id)
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
    return JsonResponse(workflow_json(stored))


@router.post("/{workflow_id}/deactivate", response_model=WorkflowOut, responses=problems(404))
async def deactivate_workflow(services: Services, workflow_id: PathId) -> JsonResponse:
    stored = await services.workflows.set_active(workflow_id, False)
    await services.webhook_registry.unregister(workflow_id)
    (await load_routes(services)).remove_workflow(workflow_id)
    services.workflows_changed()
    return JsonResponse(workflow_json(stored))


@router.post("/{workflow_id}/test-webhook", response_model=TestWebhooks, responses=problems(404, 409, 422))
async def arm_test_webhook(services: Services, workflow_id: PathId) -> JsonResponse:
    """Listen once at `/webhook-test/<path>` for each Webhook node (active or not); the next
    request there runs the workflow in mode `manual` and disarms the listener."""
    current = await stored_workflow(services, workflow_id)
    regs = registrations(workflow_id, current.data, services.registry)
    if not regs:
        raise InputInvalid(f"workflow {workflow_id!r} has no enabled Webhook node")
    replace(services.test_routes, workflow_id, regs)
    urls = [{"method": r.method, "path": r.path, "url": f"/webhook-test/{r.path}"} for r in regs]
    return JsonResponse({"webhooks": urls})


@router.get("/{workflow_id}/versions", response_model=VersionList, responses=problems(404))
async def list_versions(services: Services, workflow_id: PathId) -> JsonResponse:
    """Every saved version, newest first, without the workflow JSON."""
    versions = await services.workflows.versions(workflow_id)
    return JsonResponse({"data": [version_json(v, with_data=False) for v in versions]})


@router.get("/{workflow_id}/versions/{version_id}", response_model=VersionOut, responses=problems(404))
async def get_version(services: Services, workflow_id: PathId, version_id: PathId) -> JsonResponse:
    version = await services.workflows.version(workflow_id, version_id)
    if version is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {version_id!r}")
    return JsonResponse(version_json(version, with_data=True))


@router.post("/{workflow_id}/rollback", response_model=WorkflowOut, responses=problems(404, 409, 422))
async def rollback_workflow(services: Services, workflow_id: PathId, body: RollbackRequest) -> JsonResponse:
    """Save an earlier version as the newest one."""
    await stored_workflow(services, workflow_id)
    version = await services.workflows.version(workflow_id, body.versionId)
    if version is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {body.versionId!r}")
    current = await stored_workflow(services, workflow_id)
    wf = WorkflowBody(strip_meta(version.data), services.registry)
    return await save(services, current, wf)


@router.get("/{workflow_id}/export", response_model=WorkflowExport, responses=problems(404))
async def export_workflow(services: Services, workflow_id: PathId) -> JsonResponse:
    """The workflow as n8n exports it."""
    return JsonResponse(export_json(await stored_workflow(services, workflow_id)))
