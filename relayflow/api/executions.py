"""``POST /workflows/{id}/run`` and ``/executions``: run, list, inspect, stop, delete.

An execution is seen by whoever sees its workflow (api/authz.py); running, stopping, deleting
and retrying need the editor role over it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator

from relayflow.access.model import ProjectRole
from relayflow.api import authz
from relayflow.api.bodies import RetryRequest, RunRequest, execution_summary, page_json
from relayflow.api.deps import JsonResponse, PathId, Services, text_query
from relayflow.api.schemas import ExecutionOut, ExecutionPage, ExecutionResult, ExecutionSummary, problems
from relayflow.api.security import CurrentPrincipal
from relayflow.api.waiting import cancel_waiting
from relayflow.api.workflows import Cursor, Limit, stored_workflow
from relayflow.engine.items import normalize_items
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.errors import Conflict, InputInvalid, NotFound
from relayflow.store.common import utc
from relayflow.store.ports import ExecutionQuery
from relayflow.workflow.parse import parse_workflow

router = APIRouter(tags=["executions"])


def _utc(at: datetime) -> datetime:
    try:
        return utc(at)
    except OverflowError as exc:  # a time at the ends of the calendar, with an offset
        raise ValueError("out of range once converted to UTC") from exc


# a point in time, in UTC (naive: taken as UTC)
Instant = Annotated[datetime, AfterValidator(_utc)]

# how long POST /executions/{id}/stop waits for the execution to wind down
STOP_WAIT_S = 10.0


@router.post(
    "/workflows/{workflow_id}/run",
    status_code=202,
    response_model=ExecutionSummary,
    responses={
        200: {"model": ExecutionResult, "description": "`wait: true`: the finished execution"},
        **problems(403, 404, 422),
    },
)
async def run_workflow(
    services: Services, principal: CurrentPrincipal, workflow_id: PathId, body: RunRequest | None = None
) -> JsonResponse:
    """Run the workflow from its manual trigger (or `startNode`).

    `wait: true` answers 200 with the execution and `data`, the terminal nodes' output as
    `relayflow run` prints it; otherwise 202 with the execution once its start is recorded.
    """
    req = body or RunRequest()
    stored = await authz.workflow_access(services, principal, workflow_id, ProjectRole.EDITOR)
    wf = parse_workflow(stored.data, source=f"workflow {workflow_id}", registry=services.registry)
    if req.startNode is not None and all(n.name != req.startNode for n in wf.nodes):
        raise InputInvalid(f"startNode: no node named {req.startNode!r}")
    execution_id = uuid.uuid4().hex
    run = services.engine.run(
        wf,
        input_items=normalize_items(req.input) if req.input is not None else None,
        start_node=req.startNode,
        execution_id=execution_id,
        pin_data=req.pinData,
    )
    task = await services.runs.start(execution_id, run)
    if req.wait:
        # shielded: a client that goes away does not cancel the execution
        record = await asyncio.shield(task)
        return JsonResponse({**execution_summary(record), "data": record.output_json()})
    started = await services.executions.get(execution_id)
    summary = execution_summary(started) if started else {"id": execution_id, "status": "running"}
    headers = {"Location": f"/api/v1/executions/{execution_id}"}
    return JsonResponse(summary, status_code=202, headers=headers)


@router.get("/executions", response_model=ExecutionPage, responses=problems(422))
async def list_executions(
    services: Services,
    principal: CurrentPrincipal,
    workflowId: Annotated[str | None, text_query()] = None,
    status: ExecutionStatus | None = None,
    startedAfter: Annotated[Instant | None, Query(description="ISO 8601; inclusive.")] = None,
    startedBefore: Annotated[Instant | None, Query(description="ISO 8601; exclusive.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JsonResponse:
    """Executions of the workflows the caller may see, newest first, without their node run data."""
    query = ExecutionQuery(
        workflow_id=workflowId,
        workflow_ids=await authz.visible_workflow_ids(services, principal),
        status=status,
        started_after=startedAfter,
        started_before=startedBefore,
        limit=limit,
        cursor=cursor,
    )
    page = await services.executions.find(query)
    return JsonResponse(page_json(page, [execution_summary(r) for r in page.items]))


async def stored_execution(services: Services, execution_id: str) -> ExecutionRecord:
    """The execution, without an authorization check (callers have done theirs)."""
    record = await services.executions.get(execution_id)
    if record is None:
        raise NotFound(f"no execution {execution_id!r}")
    return record


@router.get("/executions/{execution_id}", response_model=ExecutionOut, responses=problems(404))
async def get_execution(
    services: Services, principal: CurrentPrincipal, execution_id: PathId
) -> JsonResponse:
    """The execution with every node run and its output."""
    record = await authz.execution_access(services, principal, execution_id)
    return JsonResponse(record.to_dict(with_data=True))


@router.post(
    "/executions/{execution_id}/stop", response_model=ExecutionSummary, responses=problems(403, 404, 409)
)
async def stop_execution(
    services: Services, principal: CurrentPrincipal, execution_id: PathId
) -> JsonResponse:
    """Cancel a running or waiting execution; 409 when it is neither (here)."""
    record = await authz.execution_access(services, principal, execution_id, ProjectRole.EDITOR)
    if record.status is ExecutionStatus.WAITING:
        stopped = await cancel_waiting(services, execution_id)
        if stopped is not None:
            return JsonResponse(execution_summary(stopped))
        record = await stored_execution(services, execution_id)  # it resumed meanwhile
    if record.status.terminal or not services.engine.cancel(execution_id):
        raise Conflict(f"execution {execution_id!r} is not running (status {record.status.value})")
    task = services.runs.task(execution_id)
    if task is not None:
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
    record = await stored_execution(services, execution_id)
    return JsonResponse(execution_summary(record))


@router.delete("/executions/{execution_id}", status_code=204, responses=problems(403, 404, 409))
async def delete_execution(services: Services, principal: CurrentPrincipal, execution_id: PathId) -> Response:
    """Delete a finished execution; a running one must be stopped first (409)."""
    record = await authz.execution_access(services, principal, execution_id, ProjectRole.EDITOR)
    if not record.status.terminal and services.runs.task(execution_id) is not None:
        raise Conflict(f"execution {execution_id!r} is still running: stop it first")
    await services.executions.delete(execution_id)
    return Response(status_code=204)


RETRYABLE = {ExecutionStatus.FAILED, ExecutionStatus.CRASHED, ExecutionStatus.CANCELLED}


@router.post(
    "/executions/{execution_id}/retry",
    status_code=202,
    response_model=ExecutionSummary,
    responses={
        200: {"model": ExecutionResult, "description": "`wait: true`: the finished retry"},
        **problems(403, 404, 409, 422),
    },
)
async def retry_execution(
    services: Services, principal: CurrentPrincipal, execution_id: PathId, body: RetryRequest | None = None
) -> JsonResponse:
    """Run a failed, crashed or cancelled execution again, as a new execution (`retryOf` links them).

    It uses the workflow as it is now and the original trigger data. With `fromFailedNode`, the
    nodes that finished keep their stored outputs and do not run again.
    """
    req = body or RetryRequest()
    old = await authz.execution_access(services, principal, execution_id, ProjectRole.EDITOR)
    if old.status not in RETRYABLE:
        raise Conflict(
            f"execution {execution_id!r} is {old.status.value}: only failed, crashed or cancelled ones retry"
        )
    if old.workflow_id is None or not old.node_runs or old.node_runs[0].output is None:
        raise Conflict(f"execution {execution_id!r} kept no trigger data to retry with")
    stored = await stored_workflow(services, old.workflow_id)
    wf = parse_workflow(stored.data, source=f"workflow {old.workflow_id}", registry=services.registry)
    start = old.node_runs[0]
    if all(n.name != start.node for n in wf.nodes):
        raise Conflict(f"the workflow no longer has the node {start.node!r} the execution started from")
    new_id = uuid.uuid4().hex
    run = services.engine.run(
        wf,
        input_items=list(start.output[0]) if start.output else [],
        start_node=start.node,
        mode="retry",
        execution_id=new_id,
        resume=old if req.fromFailedNode else None,
        retry_of=old.id,
    )
    task = await services.runs.start(new_id, run)
    if req.wait:
        record = await asyncio.shield(task)
        return JsonResponse({**execution_summary(record), "data": record.output_json()})
    started = await services.executions.get(new_id)
    summary = execution_summary(started) if started else {"id": new_id, "status": "running"}
    return JsonResponse(summary, status_code=202, headers={"Location": f"/api/v1/executions/{new_id}"})
