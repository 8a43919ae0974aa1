"""``/workflows``: create, list, read, replace, patch, delete, activate, versions, export."""

from __future__ import annotations

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
from relayflow.api.deps import JsonResponse, Services
from relayflow.api.webhook_routes import load_routes, registrations, replace
from relayflow.errors import InputInvalid, NotFound
from relayflow.store.ports import StoredWorkflow, WorkflowQuery

router = APIRouter(prefix="/workflows", tags=["workflows"])

WorkflowJson = Annotated[
    dict[str, Any], Body(description="A workflow in n8n's export shape (n8n exports included).")
]
Limit = Annotated[int, Query(ge=1, le=250, description="Page size.")]
Cursor = Annotated[str | None, Query(description="`nextCursor` of the previous page.")]


async def stored_workflow(services: Services, workflow_id: str) -> StoredWorkflow:
    wf = await services.workflows.get(workflow_id)
    if wf is None:
        raise NotFound(f"no workflow {workflow_id!r}")
    return wf


@router.post("", status_code=201)
async def create_workflow(services: Services, body: WorkflowJson) -> JsonResponse:
    """Store a new workflow (validated; it starts inactive)."""
    wf = WorkflowBody(body, services.registry)
    stored = await services.workflows.create(wf.data, tags=wf.tags or ())
    return JsonResponse(workflow_json(stored), status_code=201)


@router.get("")
async def list_workflows(
    services: Services,
    name: Annotated[str | None, Query(description="Case-insensitive part of the name.")] = None,
    tag: str | None = None,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JsonResponse:
    """Workflows, most recently updated first."""
    query = WorkflowQuery(name=name, tag=tag, active=active, limit=limit, cursor=cursor)
    page = await services.workflows.find(query)
    return JsonResponse(page_json(page, [workflow_json(w) for w in page.items]))


@router.get("/{workflow_id}")
async def get_workflow(services: Services, workflow_id: str) -> JsonResponse:
    return JsonResponse(workflow_json(await stored_workflow(services, workflow_id)))


async def save(services: Services, current: StoredWorkflow, wf: WorkflowBody) -> JsonResponse:
    """Store ``wf`` over ``current``; an active workflow's webhooks move to the new version first
    (a path taken by another workflow answers 409 and nothing changes)."""
    table = await load_routes(services)
    old = registrations(current.id, current.data, services.registry) if current.active else []
    if current.active:
        replace(table, current.id, registrations(current.id, wf.data, services.registry), old)
    try:
        stored = await services.workflows.update(
            current.id, wf.data, expected_version=wf.version_id, tags=wf.tags
        )
    except BaseException:
        if current.active:
            replace(table, current.id, old)
        raise
    services.workflows_changed()
    return JsonResponse(workflow_json(stored))


@router.put("/{workflow_id}")
async def replace_workflow(services: Services, workflow_id: str, body: WorkflowJson) -> JsonResponse:
    """Replace the workflow; a `versionId` other than the current one answers 409."""
    current = await stored_workflow(services, workflow_id)
    return await save(services, current, WorkflowBody(body, services.registry))


@router.patch("/{workflow_id}")
async def patch_workflow(services: Services, workflow_id: str, body: WorkflowJson) -> JsonResponse:
    """Replace the top-level fields sent, keep the others."""
    current = await stored_workflow(services, workflow_id)
    return await save(
        services, current, WorkflowBody({**strip_meta(current.data), **body}, services.registry)
    )


@router.delete("/{workflow_id}", status_code=204)
async def delete_workflow(services: Services, workflow_id: str) -> Response:
    if not await services.workflows.delete(workflow_id):
        raise NotFound(f"no workflow {workflow_id!r}")
    (await load_routes(services)).remove_workflow(workflow_id)
    services.test_routes.remove_workflow(workflow_id)
    services.workflows_changed()
    return Response(status_code=204)


@router.post("/{workflow_id}/activate")
async def activate_workflow(services: Services, workflow_id: str) -> JsonResponse:
    """Register the workflow's webhooks, then mark it active; a webhook path another active
    workflow uses answers 409 and the workflow stays as it was."""
    current = await stored_workflow(services, workflow_id)
    table = await load_routes(services)
    old = registrations(workflow_id, current.data, services.registry) if current.active else []
    replace(table, workflow_id, registrations(workflow_id, current.data, services.registry), old)
    try:
        stored = await services.workflows.set_active(workflow_id, True)
    except BaseException:
        replace(table, workflow_id, old)
        raise
    services.workflows_changed()
    return JsonResponse(workflow_json(stored))


@router.post("/{workflow_id}/deactivate")
async def deactivate_workflow(services: Services, workflow_id: str) -> JsonResponse:
    stored = await services.workflows.set_active(workflow_id, False)
    (await load_routes(services)).remove_workflow(workflow_id)
    services.workflows_changed()
    return JsonResponse(workflow_json(stored))


@router.post("/{workflow_id}/test-webhook")
async def arm_test_webhook(services: Services, workflow_id: str) -> JsonResponse:
    """Listen once at `/webhook-test/<path>` for each Webhook node (active or not); the next
    request there runs the workflow in mode `manual` and disarms the listener."""
    current = await stored_workflow(services, workflow_id)
    regs = registrations(workflow_id, current.data, services.registry)
    if not regs:
        raise InputInvalid(f"workflow {workflow_id!r} has no enabled Webhook node")
    replace(services.test_routes, workflow_id, regs)
    urls = [{"method": r.method, "path": r.path, "url": f"/webhook-test/{r.path}"} for r in regs]
    return JsonResponse({"webhooks": urls})


@router.get("/{workflow_id}/versions")
async def list_versions(services: Services, workflow_id: str) -> JsonResponse:
    """Every saved version, newest first, without the workflow JSON."""
    versions = await services.workflows.versions(workflow_id)
    return JsonResponse({"data": [version_json(v, with_data=False) for v in versions]})


@router.get("/{workflow_id}/versions/{version_id}")
async def get_version(services: Services, workflow_id: str, version_id: str) -> JsonResponse:
    version = await services.workflows.version(workflow_id, version_id)
    if version is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {version_id!r}")
    return JsonResponse(version_json(version, with_data=True))


@router.post("/{workflow_id}/rollback")
async def rollback_workflow(services: Services, workflow_id: str, body: RollbackRequest) -> JsonResponse:
    """Save an earlier version as the newest one."""
    await stored_workflow(services, workflow_id)
    version = await services.workflows.version(workflow_id, body.versionId)
    if version is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {body.versionId!r}")
    current = await stored_workflow(services, workflow_id)
    wf = WorkflowBody(strip_meta(version.data), services.registry)
    return await save(services, current, wf)


@router.get("/{workflow_id}/export")
async def export_workflow(services: Services, workflow_id: str) -> JsonResponse:
    """The workflow as n8n exports it."""
    return JsonResponse(export_json(await stored_workflow(services, workflow_id)))
