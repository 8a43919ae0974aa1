"""Live execution events as Server-Sent Events: ``/executions/{id}/events`` and ``/events``.

The events come from the ``EventHub`` (event_hub.py) that the engine's events are published to.
A caller sees the events of the executions of the workflows they may see (api/authz.py). A
browser's EventSource, which cannot send headers, may pass its token as ``?access_token=``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import StreamingResponse

from relayflow.access.model import Principal
from relayflow.api import authz
from relayflow.api.deps import PathId, Services
from relayflow.api.event_hub import FINISHED, LAGGED, STARTED, Event
from relayflow.api.executions import stored_execution
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal
from relayflow.api.services import ApiServices

router = APIRouter(tags=["events"])

SSE_MEDIA_TYPE = "text/event-stream"
# headers that keep proxies from buffering the stream
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(event: Event) -> bytes:
    """One Server-Sent Event: its name and its data as one line of JSON."""
    data = orjson.dumps(dict(event.data), default=str).decode()
    return f"event: {event.name}\ndata: {data}\n\n".encode()


def finished_event(execution_id: str, status: str, error: Any) -> Event:
    return Event(FINISHED, {"executionId": execution_id, "status": status, "error": error})


async def _execution_stream(services: Services, execution_id: str) -> AsyncIterator[bytes]:
    """Subscribe first, then ask the store: an execution that finished before we subscribed
    is terminal there (the engine records the end before it emits ``execution.finished``)."""
    hub = services.events
    sub = hub.subscribe(execution_id)
    try:
        record = await stored_execution(services, execution_id)
        if record.status.terminal:
            yield sse(finished_event(record.id, record.status.value, record.error))
            return
        while True:
            event = await sub.get(hub.keepalive_s)
            if event is None:
                yield b": keep-alive\n\n"
                continue
            yield sse(event)
            if event.name == FINISHED:
                return
    finally:
        hub.unsubscribe(sub)


class EventFilter:
    """Which events of the all-executions stream the caller may see, decided once per execution
    by its workflow: ``execution.started`` names it; an execution that started before the
    subscription is looked up in the store. Decisions are kept for the stream's life (a change
    of membership applies to streams opened after it)."""

    MAX_KEPT = 10_000

    def __init__(self, services: ApiServices, principal: Principal) -> None:
        self.services = services
        self.principal = principal
        self._decided: OrderedDict[str, bool] = OrderedDict()

    async def allows(self, event: Event) -> bool:
        if self.principal.user.is_instance_admin or event.name == LAGGED:
            return True
        execution_id = event.execution_id
        if execution_id is None:
            return False
        allowed = self._decided.get(execution_id)
        if allowed is None:
            allowed = await authz.can_see_workflow(
                self.services, self.principal, await self._workflow_of(event)
            )
            self._decided[execution_id] = allowed
            if len(self._decided) > self.MAX_KEPT:
                self._decided.popitem(last=False)
        return allowed

    async def _workflow_of(self, event: Event) -> str | None:
        if event.name == STARTED:
            workflow_id = event.data.get("workflowId")
            return None if workflow_id is None else str(workflow_id)
        record = await self.services.executions.get(str(event.execution_id))
        return record.workflow_id if record is not None else None


async def _all_stream(services: Services, principal: Principal) -> AsyncIterator[bytes]:
    hub = services.events
    sub = hub.subscribe()
    seen = EventFilter(services, principal)
    try:
        yield b": connected\n\n"
        while True:
            event = await sub.get(hub.keepalive_s)
            if event is None:
                yield b": keep-alive\n\n"
            elif await seen.allows(event):
                yield sse(event)
    finally:
        hub.unsubscribe(sub)


def _streaming(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)


@router.get(
    "/executions/{execution_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {SSE_MEDIA_TYPE: {}}}, **problems(404)},
)
async def execution_events(
    services: Services, principal: CurrentPrincipal, execution_id: PathId
) -> StreamingResponse:
    """The execution's live events as Server-Sent Events (`execution.started`, `node.started`,
    `node.finished` with `itemsOut`, `node.retry`, `execution.finished`); the stream ends after
    `execution.finished`. A finished execution answers its `execution.finished` alone."""
    await authz.execution_access(services, principal, execution_id)  # 404 before the stream starts
    return _streaming(_execution_stream(services, execution_id))


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {SSE_MEDIA_TYPE: {}}}},
)
async def all_events(services: Services, principal: CurrentPrincipal) -> StreamingResponse:
    """The live events of every execution the caller may see, as Server-Sent Events until the
    client disconnects, with a `: keep-alive` comment every 15 s; a client too slow to keep up
    gets `event: lagged`."""
    return _streaming(_all_stream(services, principal))
