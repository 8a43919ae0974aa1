"""The one place errors become HTTP answers: ``application/problem+json`` (RFC 9457).

Body: ``{type, title, status, code, detail, instance, ...}``; ``code`` is the stable code of
relayflow/errors.py. Validation problems add ``issues`` (each naming its node and field).
Unexpected exceptions are logged and answered 500 without a traceback.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relayflow.api.deps import JsonResponse
from relayflow.errors import (
    Conflict,
    Forbidden,
    InputInvalid,
    NotFound,
    OperationalError,
    ParameterInvalid,
    PayloadTooLarge,
    RateLimited,
    RelayflowError,
    Unauthorized,
    UserError,
    WorkflowInvalid,
)
from relayflow.security.secrets import SecretError

log = logging.getLogger("relayflow.api")

PROBLEM_JSON = "application/problem+json"
_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class ProblemResponse(JsonResponse):
    media_type = PROBLEM_JSON


def problem(
    status: int, code: str, detail: str, *, instance: str | None = None, **extra: Any
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": f"urn:relayflow:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return ProblemResponse(body, status_code=status)


def status_for(exc: RelayflowError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, (WorkflowInvalid, ParameterInvalid, InputInvalid)):
        return 422
    if isinstance(exc, UserError):
        return 400
    if isinstance(exc, OperationalError):
        return 503
    return 500


async def relayflow_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RelayflowError)  # registered for RelayflowError only
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    # a stored secret that does not open (tampered row, retired key) is the operator's to fix:
    # a loud 500 that says which, never the secret (the messages name ids and key ids only)
    shown = status < 500 or isinstance(exc, (OperationalError, SecretError))
    detail = exc.message if shown else "an internal error"
    extra = {k: v for k, v in exc.to_dict().items() if k not in ("code", "message") and v is not None}
    response = problem(status, exc.code, detail, instance=request.url.path, **extra)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    elif isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="relayflow"'
    return response


async def request_invalid(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", "invalid"),
            "code": err.get("type", "invalid"),
        }
        for err in exc.errors()
    ]
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in issues) or "invalid request"
    return problem(422, InputInvalid.code, detail, instance=request.url.path, issues=issues)


async def http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, (UnicodeDecodeError, RecursionError)):
        # FastAPI answers 400 to a JSON body that is not UTF-8 or nests too deep to decode; it is
        # as invalid as any other body that does not decode, which FastAPI answers 422
        message = (
            "the body is not UTF-8 JSON"
            if isinstance(exc.__cause__, UnicodeDecodeError)
            else "the body nests too deep to decode"
        )
        issue = {"field": "body", "message": message, "code": "json_invalid"}
        return problem(422, InputInvalid.code, f"body: {message}", instance=request.url.path, issues=[issue])
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route {request.method} {request.url.path}"
    response = problem(exc.status_code, code, detail, instance=request.url.path)
    response.headers.update(exc.headers or {})
    return response


class CatchAll:
    """Answers 500 problem+json to anything unexpected (Starlette's own handler re-raises)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = problem(500, "internal_error", "an internal error", instance=scope.get("path"))
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RelayflowError, relayflow_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(CatchAll)
