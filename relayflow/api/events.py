"""Live execution events as Server-Sent Events: ``/executions/{id}/events`` and ``/events``.

The events come from the ``EventHub`` (event_hub.py) that the engine's events are published to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import StreamingResponse

from relayflow.api.deps import PathId, Services
from relayflow.api.event_hub import FINISHED, Event
from relayflow.api.executions import stored_execution
from relayflow.api.schemas import problems

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


async def _all_stream(services: Services) -> AsyncIterator[bytes]:
    hub = services.events
    sub = hub.subscribe()
    try:
        yield b": connected\n\n"
        while True:
            event = await sub.get(hub.keepalive_s)
            yield b": keep-alive\n\n" if event is None else sse(event)
    finally:
        hub.unsubscribe(sub)


def _streaming(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)


@router.get(
    "/executions/{execution_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {SSE_MEDIA_TYPE: {}}}, **problems(404)},
)
async def execution_events(services: Services, execution_id: PathId) -> StreamingResponse:
    """The execution's live events as Server-Sent Events (`execution.started`, `node.started`,
    `node.finished` with `itemsOut`, `node.retry`, `execution.finished`); the stream ends after
    `execution.finished`. A finished execution answers its `execution.finished` alone."""
    await stored_execution(services, execution_id)  # 404 before the stream starts
    return _streaming(_execution_stream(services, execution_id))


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {SSE_MEDIA_TYPE: {}}}},
)
async def all_events(services: Services) -> StreamingResponse:
    """Every execution's live events as Server-Sent Events until the client disconnects, with a
    `: keep-alive` comment every 15 s; a client too slow to keep up gets `event: lagged`."""
    return _streaming(_all_stream(services))
