"""``Idempotency-Key`` on production webhooks (``/webhook/...``; test webhooks ignore it).

A request with the header (trimmed, 1 to 255 characters, else 422) whose checks all passed
(authentication, body size, signature, decoding) claims the key for its workflow with the
SHA-256 of its raw body, taken while the body streamed in, before its execution starts. A later
request with the same key:

- and another body: 409 problem+json ``idempotency_conflict``; nothing runs;
- and the same body: nothing runs; it is answered with ``Idempotent-Replayed: true`` and, for
  ``responseMode`` ``onReceived``, the same answer as the first; for ``lastNode``, once the first
  execution finished, the answer built from its stored record (as the first request got it);
  otherwise (still running, ``responseNode``, or its record is not kept) 200 with
  ``{"executionId", "status"}``.

A claim whose execution could not start is released, so a retry runs. Keys are dropped after
``RELAYFLOW_IDEMPOTENCY_TTL_HOURS`` (default 24) by the pruner's pass (store/pruner.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import Request, Response

from relayflow.api.problems import problem
from relayflow.api.services import ApiServices
from relayflow.api.webhook_answers import NOSNIFF, answer_last_node, answer_received, render
from relayflow.nodes.triggers import WebhookAnswer, WebhookParams
from relayflow.store.idempotency import Claimed, check_key
from relayflow.triggers.webhooks import Registration

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"


def requested_key(request: Request, mode: str) -> str | None:
    """The request's key on a production webhook (mode ``webhook``); InputInvalid when bad."""
    raw = request.headers.get(HEADER)
    if raw is None or mode != "webhook":
        return None
    return check_key(raw)


async def hashed(chunks: AsyncIterator[bytes], digest: Any) -> AsyncGenerator[bytes, None]:
    """``chunks`` as they come, each fed to ``digest`` on the way."""
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk


def new_digest() -> Any:
    return hashlib.sha256()


async def claim(
    services: ApiServices,
    request: Request,
    target: tuple[Registration, WebhookParams, str],
    body_hash: str,
    execution_id: str,
) -> Response | None:
    """None: ``key`` now names ``execution_id`` (run it); else the answer for a repeat."""
    reg, params, key = target
    held = await services.idempotency.claim(reg.workflow_id, key, body_hash, execution_id)
    if isinstance(held, Claimed):
        return None
    if services.janitor is not None:  # the files this request stored belong to no execution
        services.janitor.discarded(execution_id)
    if held.body_hash != body_hash:
        detail = f"the Idempotency-Key {key!r} was already used with another body"
        return problem(
            409, "idempotency_conflict", detail, instance=request.url.path, executionId=held.execution_id
        )
    response = await _replay(services, params, held.execution_id)
    response.headers[REPLAYED] = "true"
    return response


async def _replay(services: ApiServices, params: WebhookParams, execution_id: str) -> Response:
    if params.responseMode == "onReceived":
        return answer_received(params)
    record = await services.executions.get(execution_id)
    if record is not None and record.status.terminal and params.responseMode == "lastNode":
        return answer_last_node(params, record, services.engine.services.binary)
    if record is not None:
        status = record.status.value
    else:
        status = "running" if services.runs.task(execution_id) is not None else "unknown"
    body = {"executionId": execution_id, "status": status}
    return render(WebhookAnswer(200, dict(NOSNIFF), body, "json"))


async def release(services: ApiServices, workflow_id: str, key: str, execution_id: str) -> None:
    """Drop the claim of an execution that did not start."""
    await services.idempotency.release(workflow_id, key, execution_id)
