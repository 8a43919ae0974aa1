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

from relayflow.api.problems import problem
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.nodes.triggers import WebhookAnswer, WebhookParams

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
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


def render(answer: WebhookAnswer) -> Response:
    headers = {**answer.headers, **NOSNIFF}
    if answer.kind == "empty":
        return Response(status_code=answer.status, headers=headers)
    if answer.kind == "text":
        media = _media(headers, "text/plain")
        return Response(str(answer.body), status_code=answer.status, headers=headers, media_type=media)
    media = _media(headers, "application/json")
    body = orjson.dumps(answer.body, default=str)
    return Response(body, status_code=answer.status, headers=headers, media_type=media)


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


def answer_last_node(params: WebhookParams, record: ExecutionRecord) -> Response:
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
    first = items[0].get("json", {}) if items else {}
    return render(WebhookAnswer(status, headers, first, "json"))


async def answer_execution(
    params: WebhookParams, task: asyncio.Task[ExecutionRecord], slot: asyncio.Future[Any] | None
) -> Response:
    """Wait (shielded: a client that leaves does not cancel the execution) for the answer."""
    if slot is None:
        return answer_last_node(params, await asyncio.shield(task))
    waited: set[asyncio.Future[Any]] = {task, slot}
    await asyncio.shield(asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED))
    if slot is not None and slot.done() and not slot.cancelled():
        answer: WebhookAnswer = slot.result()
        return render(answer)
    return answer_last_node(params, task.result())
