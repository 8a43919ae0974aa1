"""What a webhook request is answered, per the Webhook node's ``responseMode``.

- ``onReceived``: at once, once the execution's start is recorded: ``responseCode`` and
  ``{"message": "Workflow was started"}`` (n8n's body), the text of ``options.responseData``, or
  nothing for ``noData`` / ``options.noResponseBody``.
- ``lastNode``: when the execution ends, the last executed node's main output:
  ``firstEntryJson`` (the first item's json, ``{}`` without items), ``allEntries`` (every item's
  json) or ``noData``. A failed execution answers 500 problem+json naming the failed node.
- ``responseNode``: what the first Respond to Webhook node that runs says. An execution that
  ends without one is answered as in ``lastNode`` (a failed one with 500).

Answers carrying user-controlled content get ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Response
from starlette.responses import StreamingResponse

from relayflow.api.headers import SANDBOX_CSP
from relayflow.api.problems import problem
from relayflow.engine.binary import DEFAULT_MIME, inline_bytes, key_of
from relayflow.engine.ports import BinaryStore
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.errors import NotFound
from relayflow.nodes.triggers import WebhookAnswer, WebhookParams

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
# binary answers may be anything (HTML, SVG): a browser that opens one runs no script (X11)
BINARY_HEADERS = {**NOSNIFF, "Content-Security-Policy": SANDBOX_CSP}
# binary answers up to this size are read whole (once) and sent as one body; larger ones stream
WHOLE_BYTES = 8 << 20
STARTED = {"message": "Workflow was started"}


def _status(params: WebhookParams) -> int:
    code = params.options.responseCode
    if isinstance(code, dict):
        values = code.get("values", code)
        code = values.get("customCode") or values.get("responseCode") if isinstance(values, dict) else None
    return code if isinstance(code, int) and 100 <= code <= 599 else params.responseCode


def _headers(params: WebhookParams) -> dict[str, str]:
    own = {h.name: h.value for h in params.options.responseHeaders.entries if h.name}
    return {**own, **NOSNIFF}


def _media(headers: dict[str, str], default: str) -> str:
    """Take the Content-Type the user set out of ``headers`` (any case), or ``default``."""
    media = default
    for name in [n for n in headers if n.lower() == "content-type"]:
        media = headers.pop(name)
    return media


def render(answer: WebhookAnswer, binary: BinaryStore | None = None) -> Response:
    headers = {**answer.headers, **NOSNIFF}
    if answer.kind == "binary":
        return binary_response(answer.status, headers, answer.body, binary)
    if answer.kind == "empty":
        return Response(status_code=answer.status, headers=headers)
    if answer.kind == "text":
        media = _media(headers, "text/plain")
        return Response(str(answer.body), status_code=answer.status, headers=headers, media_type=media)
    media = _media(headers, "application/json")
    body = orjson.dumps(answer.body, default=str)
    return Response(body, status_code=answer.status, headers=headers, media_type=media)


def binary_response(status: int, headers: dict[str, str], entry: Any, store: BinaryStore | None) -> Response:
    """A binary entry as the body, streamed from the store in chunks (never read whole)."""
    if not isinstance(entry, dict):
        return problem(500, "workflow_error", "the binary data to answer with is not an object")
    media = _media(headers, str(entry.get("mimeType") or DEFAULT_MIME))
    headers = {**headers, **BINARY_HEADERS}
    key = key_of(entry)
    if key is None:
        try:
            data = inline_bytes(entry)
        except ValueError as exc:
            return problem(500, "workflow_error", f"the binary data to answer with is invalid: {exc}")
        return Response(data, status_code=status, headers=headers, media_type=media)
    if store is None:
        return problem(500, "workflow_error", "binary data is not available here")
    size = entry.get("bytes")
    path = store.local_path(key)
    if path is not None:
        size = path.stat().st_size
    if isinstance(size, int) and size <= WHOLE_BYTES:
        return WholeBinary(store, key, status_code=status, headers=headers, media_type=media)
    if isinstance(size, int):
        headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(store, key), status_code=status, headers=headers, media_type=media)


class WholeBinary(Response):
    """Binary data read once and sent as one body when the answer is sent: for files small
    enough, cheaper than a stream's task and per-chunk sends (S8)."""

    def __init__(self, store: BinaryStore, key: str, **kwargs: Any) -> None:
        super().__init__(b"", **kwargs)
        self.store = store
        self.key = key

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            self.body = await self.store.read_bytes(self.key)
        except NotFound:  # deleted meanwhile
            await problem(500, "workflow_error", "the binary data to answer with was deleted")(
                scope, receive, send
            )
            return
        length = (b"content-length", str(len(self.body)).encode())
        self.raw_headers = [h for h in self.raw_headers if h[0] != b"content-length"] + [length]
        await super().__call__(scope, receive, send)


async def _chunks(store: BinaryStore, key: str) -> Any:
    try:
        async for chunk in store.read(key):
            yield chunk
    except NotFound:  # deleted meanwhile: the answer ends short (the status is already sent)
        return


def answer_received(params: WebhookParams) -> Response:
    status, headers = _status(params), _headers(params)
    custom = params.options.responseData
    if params.options.noResponseBody or params.responseData == "noData" or custom == "noData":
        return render(WebhookAnswer(status, headers, None, "empty"))
    if custom:
        return render(WebhookAnswer(status, headers, custom, "text"))
    return render(WebhookAnswer(status, headers, STARTED, "json"))


def _last_items(record: ExecutionRecord) -> list[dict[str, Any]]:
    node = record.last_node
    if node is None:
        return []
    runs = record.runs_of(node)
    output = runs[-1].output if runs and runs[-1].output is not None else record.result.get(node)
    return list(output[0]) if output else []


def answer_last_node(
    params: WebhookParams, record: ExecutionRecord, binary: BinaryStore | None = None
) -> Response:
    if record.status != ExecutionStatus.SUCCEEDED:
        error = record.error or {}
        node = error.get("node")
        where = f" in node {node!r}" if node else ""
        detail = f"Error in workflow{where}: {error.get('message', record.status.value)}"
        return problem(500, "workflow_error", detail, executionId=record.id, node=node)
    status, headers = _status(params), _headers(params)
    items = _last_items(record)
    if params.responseData == "noData" or params.options.noResponseBody:
        return render(WebhookAnswer(status, headers, None, "empty"))
    if params.responseData == "allEntries":
        return render(WebhookAnswer(status, headers, [it.get("json", {}) for it in items], "json"))
    if params.responseData == "firstEntryBinary":
        entries = items[0].get("binary") if items else None
        entry = entries.get(params.options.responsePropertyName) if isinstance(entries, dict) else None
        if not isinstance(entry, dict):
            detail = (
                f"the last node's first item has no binary property {params.options.responsePropertyName!r}"
            )
            return problem(500, "workflow_error", detail, executionId=record.id)
        return binary_response(status, headers, entry, binary)
    first = items[0].get("json", {}) if items else {}
    return render(WebhookAnswer(status, headers, first, "json"))


async def answer_execution(
    params: WebhookParams,
    task: asyncio.Task[ExecutionRecord],
    slot: asyncio.Future[Any] | None,
    binary: BinaryStore | None = None,
) -> Response:
    """Wait (shielded: a client that leaves does not cancel the execution) for the answer."""
    if slot is None:
        return answer_last_node(params, await asyncio.shield(task), binary)
    waited: set[asyncio.Future[Any]] = {task, slot}
    await asyncio.shield(asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED))
    if slot is not None and slot.done() and not slot.cancelled():
        answer: WebhookAnswer = slot.result()
        return render(answer, binary)
    return answer_last_node(params, task.result(), binary)
