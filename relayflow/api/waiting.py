"""Waiting executions: resumed by their timer or by a call to ``/webhook-waiting/{executionId}``
(the ``$execution.resumeUrl`` of a Wait node that waits for a call).

The call is checked like a webhook (503 with ``Retry-After`` under backpressure, 404 when nothing
waits for a call there, 405 with ``Allow`` for another method, then the Wait node's IP allow-list
and authentication: 403, 401 (webhook_auth.py), 413 over the body limit); its request becomes the
Wait node's output item, and it is answered per the Wait node's ``responseMode`` as a Webhook node
would be. Only a call that passed every check claims the wait in the store, so a refused call
leaves the execution waiting; the claim is what makes a call racing a timer (or another call)
resume it once: the loser gets 409. A waiting execution whose workflow was deleted meanwhile ends
``failed``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from relayflow.api.deps import Services
from relayflow.api.services import ApiServices
from relayflow.api.webhook_answers import answer_execution, answer_received
from relayflow.api.webhook_auth import WebhookGuard
from relayflow.api.webhooks import Admission, method_not_allowed, overloaded, read_payload
from relayflow.engine.items import Item
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.errors import Conflict, ExecutionCancelled, NotFound
from relayflow.nodes.triggers import WebhookParams
from relayflow.store.common import waiting_from
from relayflow.store.ports import ParkedExecution
from relayflow.triggers.webhooks import METHODS, webhook_item

router = APIRouter(tags=["webhooks"])


@router.api_route("/webhook-waiting/{execution_id}", methods=list(METHODS), include_in_schema=False)
async def resume_by_call(request: Request, execution_id: str, services: Services) -> Response:
    shed = overloaded(request, services)
    if shed is not None:
        return shed
    admission = Admission(services)
    try:
        return await _resume(request, execution_id, services, admission)
    finally:
        admission.release()


async def _resume(
    request: Request, execution_id: str, services: ApiServices, admission: Admission
) -> Response:
    # the wait is read first: who may resume it is checked before anything is claimed (X7)
    wait = await services.executions.parked_one(execution_id)
    guard = _guard_of(request, execution_id, wait)
    if isinstance(guard, Response):
        return guard
    granted: dict[str, Any] = {}
    if guard is not None:
        checked = await guard.check(request, services)
        if isinstance(checked, Response):
            return checked
        granted = checked
    payload = await read_payload(
        request, services, (guard, granted) if guard is not None else None, execution_id=execution_id
    )
    if isinstance(payload, Response):
        return payload
    body, uploads = payload
    item = webhook_item(
        method=request.method,
        path=f"webhook-waiting/{execution_id}",
        headers=guard.item_headers(request.headers, granted) if guard else dict(request.headers),
        query=request.query_params.multi_items(),
        params={},
        body=body,
        uploads=uploads,
        webhook_url=str(request.url.replace(query="")),
    )
    # one write claims the wait (if it waits for this method) and reads the execution
    taken = await services.executions.take_parked(execution_id, method=request.method)
    if taken is None:
        return await _refused(request, execution_id, services)
    if wait is None or not _same(taken[0], wait):
        # resumed and parked again (at another Wait) since the call was checked: that wait
        # was not what the call was checked against, so it goes back untouched
        await _put_back(services, *taken)
        raise Conflict(f"execution {execution_id!r} was resumed already")
    wait, record = taken
    hook = _webhook_of(wait) or {}
    params = WebhookParams.model_validate(_answer_params(hook))
    slot: asyncio.Future[Any] | None = None
    if params.responseMode == "responseNode":
        slot = asyncio.get_running_loop().create_future()
        services.webhook_responses[execution_id] = slot
    try:
        task = await resume_taken(services, wait, record, request=item)
        admission.release()
        if task is None:
            raise NotFound(f"the workflow of execution {execution_id!r} no longer exists")
        if params.responseMode == "onReceived":
            return answer_received(params)
        return await answer_execution(params, task, slot, services.engine.services.binary)
    finally:
        services.webhook_responses.pop(execution_id, None)


async def _refused(request: Request, execution_id: str, services: ApiServices) -> Response:
    """Why a call resumed nothing: no wait for a call there (404), another method (405 with
    ``Allow``), or another claimer came first (409)."""
    hook = _webhook_of(await services.executions.parked_one(execution_id))
    if hook is None:
        raise NotFound(f"no execution {execution_id!r} is waiting for a call")
    method = str(hook.get("httpMethod", "GET"))
    if request.method != method:
        detail = f"execution {execution_id} waits for {method}, not {request.method}"
        return method_not_allowed(request, detail, [method])
    raise Conflict(f"execution {execution_id!r} was resumed already")


def _guard_of(
    request: Request, execution_id: str, wait: ParkedExecution | None
) -> WebhookGuard | Response | None:
    """The guard of the node waiting for a call (None: it admits everyone); 404 when none
    waits, 405 with ``Allow`` for another method."""
    waiting = _waiting_node(wait)
    if wait is None or waiting is None:
        raise NotFound(f"no execution {execution_id!r} is waiting for a call")
    node, hook = waiting
    method = str(hook.get("httpMethod", "GET"))
    if request.method != method:
        detail = f"execution {execution_id} waits for {method}, not {request.method}"
        return method_not_allowed(request, detail, [method])
    return WebhookGuard.of_wait(wait.workflow_id or "", node, hook)


def _same(taken: ParkedExecution, checked: ParkedExecution) -> bool:
    return taken.created_at == checked.created_at and taken.nodes == checked.nodes


async def _put_back(services: ApiServices, wait: ParkedExecution, record: ExecutionRecord) -> None:
    """Store a claimed wait again as it was (its timer too)."""
    waiting_from(record, wait)
    await services.executions.execution_finished(record)
    if wait.due_at is not None and services.runs.on_waiting is not None:
        services.runs.on_waiting(record.id, wait.due_at)


def _waiting_node(wait: ParkedExecution | None) -> tuple[str, dict[str, Any]] | None:
    """The name and resume settings of the node that waits for a call."""
    if wait is None or not wait.webhook:
        return None
    return next(
        ((str(n["node"]), dict(n["webhook"])) for n in wait.nodes if n.get("webhook") is not None), None
    )


def _webhook_of(wait: ParkedExecution | None) -> dict[str, Any] | None:
    waiting = _waiting_node(wait)
    return waiting[1] if waiting is not None else None


def _answer_params(hook: dict[str, Any]) -> dict[str, Any]:
    """The Wait node's answer settings in the Webhook node's shape (webhook_answers.py reads it)."""
    return {
        "responseMode": hook.get("responseMode", "onReceived"),
        "responseCode": hook.get("responseCode", 200),
        "responseData": hook.get("responseData", "firstEntryJson"),
        "options": hook.get("options", {}),
    }


async def resume_taken(
    services: ApiServices, wait: ParkedExecution, record: ExecutionRecord, *, request: Item | None = None
) -> asyncio.Task[ExecutionRecord] | None:
    """Continue a claimed wait on the workflow version it started on; the task of the execution
    once its restart is recorded (None when its workflow is gone). ``request`` goes to the node
    that waits for a call."""
    assert services.parsed is not None
    wf = await services.parsed.get(wait.workflow_id, wait.version_id) if wait.workflow_id else None
    if wf is None:
        message = "the workflow was deleted while the execution waited"
        await _end(
            services, record, ExecutionStatus.FAILED, {"code": "workflow_not_found", "message": message}
        )
        return None
    state = {
        str(n["node"]): {
            "until": n.get("until"),
            "request": request if request is not None and n.get("webhook") is not None else None,
        }
        for n in wait.nodes
    }
    run = services.engine.resume_parked(wf, record, state)
    return await services.runs.start(record.id, run)


async def resume_due(services: ApiServices, execution_id: str, due: datetime) -> None:
    """A timer came: resume the execution if its wait is still there and due; wait for its end
    (the timers bound how many resumed executions run at once)."""
    taken = await services.executions.take_parked(execution_id, due_by=max(due, _now(services)))
    if taken is None:
        return
    task = await resume_taken(services, *taken)
    if task is not None:
        await asyncio.wait({task})


async def cancel_waiting(services: ApiServices, execution_id: str) -> ExecutionRecord | None:
    """Stop a waiting execution: it ends ``cancelled``; None when it was not waiting (any more)."""
    taken = await services.executions.take_parked(execution_id)
    if taken is None:
        return None
    error = ExecutionCancelled("the execution was cancelled while it waited").to_dict()
    return await _end(services, taken[1], ExecutionStatus.CANCELLED, error)


async def _end(
    services: ApiServices, record: ExecutionRecord, status: ExecutionStatus, error: dict[str, Any]
) -> ExecutionRecord:
    """End a claimed wait's execution without running it again."""
    record.status, record.error, record.finished_at = status, error, _now(services)
    record.wait_till, record.waiting = None, []
    await services.executions.execution_finished(record)
    services.runs.emit(
        "execution.finished", {"executionId": record.id, "status": status.value, "error": error}
    )
    return record


def _now(services: ApiServices) -> datetime:
    now: datetime = services.engine.services.clock.now()
    return now


__all__ = ["cancel_waiting", "resume_due", "resume_taken", "router"]
