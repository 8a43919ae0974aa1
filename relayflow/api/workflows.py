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
from relayflow.errors import NotFound
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


@router.put("/{workflow_id}")
async def replace_workflow(services: Services, workflow_id: str, body: WorkflowJson) -> JsonResponse:
    """Replace the workflow; a `versionId` other than the current one answers 409."""
    await stored_workflow(services, workflow_id)
    wf = WorkflowBody(body, services.registry)
    stored = await services.workflows.update(
        workflow_id, wf.data, expected_version=wf.version_id, tags=wf.tags
    )
    return JsonResponse(workflow_json(stored))


@router.patch("/{workflow_id}")
async def patch_workflow(services: Services, workflow_id: str, body: WorkflowJson) -> JsonResponse:
    """Replace the top-level fields sent, keep the others."""
    current = await stored_workflow(services, workflow_id)
    wf = WorkflowBody({**strip_meta(current.data), **body}, services.registry)
    stored = await services.workflows.update(
        workflow_id, wf.data, expected_version=wf.version_id, tags=wf.tags
    )
    return JsonResponse(workflow_json(stored))


@router.delete("/{workflow_id}", status_code=204)
async def delete_workflow(services: Services, workflow_id: str) -> Response:
    if not await services.workflows.delete(workflow_id):
        raise NotFound(f"no workflow {workflow_id!r}")
    return Response(status_code=204)


@router.post("/{workflow_id}/activate")
async def activate_workflow(services: Services, workflow_id: str) -> JsonResponse:
    return JsonResponse(workflow_json(await services.workflows.set_active(workflow_id, True)))


@router.post("/{workflow_id}/deactivate")
async def deactivate_workflow(services: Services, workflow_id: str) -> JsonResponse:
    return JsonResponse(workflow_json(await services.workflows.set_active(workflow_id, False)))


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
    wf = WorkflowBody(strip_meta(version.data), services.registry)
    stored = await services.workflows.update(workflow_id, wf.data)
    return JsonResponse(workflow_json(stored))


@router.get("/{workflow_id}/export")
async def export_workflow(services: Services, workflow_id: str) -> JsonResponse:
    """The workflow as n8n exports it."""
    return JsonResponse(export_json(await stored_workflow(services, workflow_id)))
