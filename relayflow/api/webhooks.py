"""``/webhook/{path}``: an HTTP request starts the active workflow whose Webhook node listens there.

Order of checks: route (404, 405 with ``Allow``), backpressure (503 with ``Retry-After`` when
``max_in_flight`` executions run), the node's IP allow-list and authentication (403, 401:
webhook_auth.py), body size (413, from Content-Length and while reading), its signature (401),
body decoding (422). A test listener (``/webhook-test/``) disarms only once a call passed them
all. The execution (mode ``webhook``) starts at the Webhook node and is recorded before any
answer; the node's ``responseMode`` says when and what to answer (webhook_answers.py). A
production request's ``Idempotency-Key`` is claimed once all checks passed, just before its
execution starts; a repeat is answered from the first execution (webhook_idempotency.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from relayflow.api import webhook_idempotency as idempotency
from relayflow.api.problems import problem, status_for
from relayflow.api.services import ApiServices
from relayflow.api.webhook_answers import NOSNIFF, answer_execution, answer_received
from relayflow.api.webhook_auth import WebhookGuard
from relayflow.api.webhook_routes import ParsedWorkflow, load_routes
from relayflow.engine.binary import BinaryData
from relayflow.engine.items import Item
from relayflow.errors import InputInvalid, NotFound, RelayflowError
from relayflow.nodes.triggers import WebhookParams
from relayflow.triggers.webhooks import (
    METHODS,
    Match,
    MethodNotAllowed,
    Registration,
    RouteTable,
    Upload,
    decode_body,
    webhook_item,
)
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow

router = APIRouter(tags=["webhooks"])


class BodyTooLarge(Exception):
    pass


class Admission:
    """A request counted against ``max_in_flight`` until its execution task exists."""

    def __init__(self, services: ApiServices) -> None:
        self.services = services
        self.held = True
        services.admitting += 1

    def release(self) -> None:
        if self.held:
            self.held = False
            self.services.admitting -= 1


@dataclass(frozen=True)
class Listener:
    table: RouteTable
    mode: str  # the execution's mode
    item_mode: str  # ``executionMode`` in the Webhook node's item (n8n's names)
    one_shot: bool = False  # a test listener serves one request, then disarms


# plain Starlette routes: FastAPI's dependency injection and validation cost more than this
# path's own work, and it needs none of them


async def production_webhook(request: Request) -> Response:
    """The active workflows' webhooks."""
    started = time.perf_counter()
    services: ApiServices = request.app.state.services
    listener = Listener(await load_routes(services), "webhook", "production")
    path = request.path_params["path"]
    return await _timed(services, started, _handle(request, path, services, listener))


async def test_webhook(request: Request) -> Response:
    """A webhook armed by ``POST /api/v1/workflows/{id}/test-webhook``: runs once, mode manual."""
    services: ApiServices = request.app.state.services
    listener = Listener(services.test_routes, "manual", "test", one_shot=True)
    path = request.path_params["path"]
    return await _timed(services, time.perf_counter(), _handle(request, path, services, listener))


router.add_route("/webhook/{path:path}", production_webhook, methods=list(METHODS), include_in_schema=False)
router.add_route("/webhook-test/{path:path}", test_webhook, methods=list(METHODS), include_in_schema=False)


async def _timed(services: ApiServices, started: float, answer: Awaitable[Response]) -> Response:
    """``answer``, its time until the answer and its status class observed in the metrics."""
    status = 500
    try:
        response = await answer
        status = response.status_code
        return response
    except RelayflowError as exc:  # answered as a problem by the app's handler
        status = status_for(exc)
        raise
    finally:
        services.metrics.webhook_answered(status, time.perf_counter() - started)


async def _handle(request: Request, path: str, services: ApiServices, listener: Listener) -> Response:
    found = listener.table.lookup(request.method, path)
    if isinstance(found, MethodNotAllowed):
        detail = f"webhook /{path.strip('/')} does not accept {request.method}"
        return method_not_allowed(request, detail, found.allowed)
    if not isinstance(found, Match):
        raise NotFound(f"no webhook {request.method} /{found.path} is registered")
    shed = overloaded(request, services)
    if shed is not None:
        return shed
    admission = Admission(services)
    try:
        return await _serve(request, services, (found, listener), admission)
    finally:
        admission.release()


async def _serve(
    request: Request, services: ApiServices, target: tuple[Match, Listener], admission: Admission
) -> Response:
    found, listener = target
    reg = found.registration
    # authentication before the body is decoded: a refused request starts nothing (X7)
    guard: WebhookGuard | None = reg.options.get("guard")
    granted: dict[str, Any] = {}
    if guard is not None:
        checked = await guard.check(request, services)
        if isinstance(checked, Response):
            return checked
        granted = checked
    params: WebhookParams = reg.options["params"]
    execution_id = uuid.uuid4().hex
    key = idempotency.requested_key(request, listener.mode)  # after authentication (422 if bad)
    digest = idempotency.new_digest() if key is not None else None
    payload = await read_payload(
        request,
        services,
        (guard, granted) if guard is not None else None,
        execution_id=execution_id,
        binary_property=binary_property(params, request.headers.get("content-type", "")),
        digest=digest,
    )
    if isinstance(payload, Response):
        return payload
    if listener.one_shot:
        _disarm(request, listener.table, reg)
    body, uploads = payload
    item = webhook_item(
        method=request.method,
        path=reg.path,
        headers=guard.item_headers(request.headers, granted) if guard else dict(request.headers),
        query=request.query_params.multi_items(),
        params=found.params,
        body=body,
        uploads=uploads,
        webhook_url=str(request.url.replace(query="")),
        mode=listener.item_mode,
    )
    wf = await _workflow(services, reg, listener)
    if key is None or digest is None:
        return await _run(services, admission, (wf, reg.node, params, listener.mode), item, execution_id)
    # claimed only once every check passed and the body decoded (webhook_idempotency.py)
    repeat = await idempotency.claim(services, request, (reg, params, key), digest.hexdigest(), execution_id)
    if repeat is not None:
        return repeat
    try:
        return await _run(services, admission, (wf, reg.node, params, listener.mode), item, execution_id)
    except BaseException:
        if services.runs.task(execution_id) is None and await services.executions.get(execution_id) is None:
            await idempotency.release(services, reg.workflow_id, key, execution_id)
        raise


async def _workflow(services: ApiServices, reg: Registration, listener: Listener) -> Workflow:
    """The route's workflow: parsed once, then kept with the route (webhook_routes.py)."""
    parsed: ParsedWorkflow = reg.options["workflow"]
    if parsed.workflow is not None:
        return parsed.workflow
    stored = await services.workflows.get(reg.workflow_id)
    if stored is None:  # deleted behind our back: forget its routes
        listener.table.remove_workflow(reg.workflow_id)
        raise NotFound(f"no webhook {reg.method} /{reg.path} is registered")
    wf = parse_workflow(stored.data, source=f"workflow {stored.id}", registry=services.registry)
    parsed.offer(stored.data, wf)
    return wf


async def _run(
    services: ApiServices,
    admission: Admission,
    target: tuple[Workflow, str, WebhookParams, str],
    item: Item,
    execution_id: str,
) -> Response:
    wf, node, params, mode = target
    slot: asyncio.Future[Any] | None = None
    if params.responseMode == "responseNode":
        slot = asyncio.get_running_loop().create_future()
        services.webhook_responses[execution_id] = slot
    try:
        run = services.engine.run(
            wf, start_node=node, mode=mode, input_items=[item], execution_id=execution_id
        )
        try:
            task = await services.runs.start(execution_id, run)
        finally:
            admission.release()
        if params.responseMode == "onReceived":
            return answer_received(params)
        return await answer_execution(params, task, slot, services.engine.services.binary)
    finally:
        services.webhook_responses.pop(execution_id, None)


def _disarm(request: Request, table: RouteTable, reg: Registration) -> None:
    """Take a one-shot test listener down once a call passed its checks: a refused call (401,
    403, 413, 422) leaves it armed for the next one. Of calls that passed together, the first to
    get here runs; the others find it gone (no await between the look and the removal)."""
    still = table.lookup(request.method, request.path_params["path"])
    if not isinstance(still, Match) or still.registration is not reg:
        raise NotFound(f"no webhook {reg.method} /{reg.path} is registered")
    table.remove_workflow(reg.workflow_id)


def method_not_allowed(request: Request, detail: str, allowed: Sequence[str]) -> Response:
    response = problem(405, "method_not_allowed", detail, instance=request.url.path)
    response.headers["Allow"] = ", ".join(allowed)
    return response


def overloaded(request: Request, services: ApiServices) -> Response | None:
    """503 with ``Retry-After`` when ``max_in_flight`` executions run or are being admitted."""
    if services.runs.in_flight + services.admitting < services.max_in_flight:
        return None
    response = problem(
        503, "overloaded", "too many executions in flight; retry later", instance=request.url.path
    )
    response.headers["Retry-After"] = "1"
    return response


async def read_payload(
    request: Request,
    services: ApiServices,
    guard: tuple[WebhookGuard, dict[str, Any]] | None = None,
    *,
    execution_id: str,
    binary_property: str | None = None,
    digest: Any = None,
) -> tuple[Any, list[Upload]] | Response:
    """The decoded body and uploaded files, or the 413 answer when the body is over the limit
    (or the 401 when ``guard``, with the credential it granted, refuses the body's signature).

    Files (multipart parts, and the whole body when ``binary_property`` names where it goes)
    are streamed into the binary store under ``execution_id``, never held whole in memory;
    a signed body is read whole first (its signature covers the bytes). ``digest`` (a hashlib
    object), when given, is fed the raw body as it streams in."""
    limit = services.max_body_bytes
    declared = request.headers.get("content-length", "")
    ctype = request.headers.get("content-type", "")
    store = BinaryData(services.engine.services.binary, execution_id)
    stream = request.stream() if digest is None else idempotency.hashed(request.stream(), digest)
    try:
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        if guard is None:
            source: AsyncGenerator[bytes, None] = _limited(stream, limit)
        else:
            raw = await _join(_limited(stream, limit))
            refused = guard[0].check_body(request, raw, guard[1])
            if refused is not None:
                return refused
            source = _replay(raw)
        if ctype.lower().startswith("multipart/form-data"):
            return await _multipart(request, source, store)
        if binary_property is not None:
            entry = await store.put(
                source, file_name=_disposition_name(request), mime_type=_media_type(ctype)
            )
            return {}, [Upload(binary_property, entry.get("fileName"), entry["mimeType"], b"", entry)]
        return decode_body(ctype, await _join(source)), []
    except BodyTooLarge:
        return problem(
            413, "payload_too_large", f"the body is larger than {limit} bytes", instance=request.url.path
        )


def binary_property(params: WebhookParams, content_type: str) -> str | None:
    """Where a Webhook node puts the whole body as binary data: the ``binaryPropertyName`` when
    its ``binaryData`` (v1) or ``rawBody`` option is on, ``data`` for a body that is not text
    (images, PDF, archives, octet streams); None: the body is decoded into ``body``."""
    opts = params.options
    if opts.binaryData or opts.rawBody:
        return opts.binaryPropertyName or "data"
    media = _media_type(content_type)
    if media.startswith("multipart/") or not media or is_textual(media):
        return None
    return "data"


def is_textual(media: str) -> bool:
    return media.startswith("text/") or media in _TEXTUAL or media.endswith(("+json", "+xml"))


_TEXTUAL = frozenset(
    {
        "application/json",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/javascript",
        "application/graphql",
        "application/x-ndjson",
        "application/csp-report",
    }
)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _disposition_name(request: Request) -> str | None:
    """The file name a ``Content-Disposition`` request header gives, without any path."""
    header = request.headers.get("content-disposition", "")
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return base_name(value.strip().strip('"'))
    return None


def base_name(name: str | None) -> str | None:
    """A client's file name without any folder part (``../../etc/passwd`` → ``passwd``) or
    control characters: it is metadata (``fileName``), never a path (X3)."""
    if not name:
        return None
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(c for c in last if c >= " " and c != "\x7f").strip()
    return clean if clean not in ("", ".", "..") else None


async def _limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk


async def _join(chunks: AsyncIterator[bytes]) -> bytes:
    """The whole body (``chunks`` is already ``_limited``)."""
    parts = [chunk async for chunk in chunks]
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def _replay(raw: bytes) -> AsyncGenerator[bytes, None]:
    yield raw


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1 << 20):
        yield chunk


async def _multipart(
    request: Request, source: AsyncGenerator[bytes, None], store: BinaryData
) -> tuple[Any, list[Upload]]:
    """The ``body`` fields and the uploaded files: Starlette's parser spools each file (to disk
    past 1 MiB), then it is copied into the binary store in chunks."""
    try:
        form = await MultiPartParser(request.headers, source, max_part_size=1 << 20).parse()
    except MultiPartException as exc:
        raise InputInvalid(f"the multipart body is invalid: {exc.message}") from exc
    fields: dict[str, Any] = {}
    uploads: list[Upload] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                mime = value.content_type or ""
                name = base_name(value.filename)
                entry = await store.put(_file_chunks(value), file_name=name, mime_type=mime or None)
                uploads.append(Upload(key, name, entry["mimeType"], b"", entry))
            elif key in fields:
                prev = fields[key]
                fields[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                fields[key] = value
    finally:
        await form.close()
    return fields, uploads


__all__ = ["NOSNIFF", "router"]
