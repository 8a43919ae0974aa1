"""Responses → items (JSON, text or file; full response or body only).

File bodies are never held in memory: ``transport.py`` streams them into the binary store and
the ``Response`` carries the store's entry (``relayflow.engine.binary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from relayflow.engine.items import Item, Items
from relayflow.errors import NodeError
from relayflow.nodes.http_request.params import Params

_TEXT_TYPES = ("text/", "xml", "javascript", "x-www-form-urlencoded", "html", "csv", "yaml")


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    url: str
    # the binary data entry when the body went to the binary store (a file response)
    file: dict[str, Any] | None = None

    @property
    def content_type(self) -> str:
        return content_type(self.headers)

    @property
    def charset(self) -> str:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:  # unknown charset
            return self.body.decode("utf-8", errors="replace")


def content_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def kind_of(ctype: str, fmt: str) -> str:
    """ "json", "text" or "file" for a (non-empty) body of ``ctype`` under ``responseFormat``."""
    if fmt != "autodetect":
        return fmt
    if "json" in ctype:
        return "json"
    if not ctype or any(t in ctype for t in _TEXT_TYPES):
        return "text"
    return "file"


def _decode_json(resp: Response, index: int, strict: bool) -> Any:
    if not resp.body.strip():
        return {}
    try:
        return orjson.loads(resp.body)
    except orjson.JSONDecodeError:
        if strict:
            raise NodeError(
                f"item {index}: the response body is not valid JSON (set the response format to "
                "'text' to keep it as text)",
                item_index=index,
                retryable=False,
            ) from None
        return resp.text()


def body_value(resp: Response, p: Params, index: int) -> Any:
    """The decoded body: JSON value, text, or the binary entry of a file."""
    if resp.file is not None:
        return resp.file
    fmt = p.response.responseFormat
    if fmt == "text" or (fmt != "json" and resp.body.strip() and kind_of(resp.content_type, fmt) == "text"):
        return resp.text()
    return _decode_json(resp, index, strict=fmt == "json")


def view(resp: Response, p: Params, index: int) -> dict[str, Any]:
    """The response as ``$response`` shows it to pagination expressions."""
    return {
        "body": body_value(resp, p, index),
        "headers": resp.headers,
        "statusCode": resp.status,
        "statusMessage": resp.reason,
    }


def _body_items(value: Any, prop: str, split: bool) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and split:
        return [v if isinstance(v, dict) else {prop: v} for v in value]
    return [{prop: value}]


def to_items(resp: Response, p: Params, index: int) -> Items:
    settings = p.response
    prop = settings.outputPropertyName or "data"
    paired = {"item": index}
    meta = {"headers": resp.headers, "statusCode": resp.status, "statusMessage": resp.reason}
    if resp.file is not None:
        json: dict[str, Any] = meta if settings.fullResponse else {}
        return [{"json": json, "binary": {prop: resp.file}, "pairedItem": paired}]
    body = body_value(resp, p, index)
    if settings.fullResponse:
        return [{"json": {"body": body, **meta}, "pairedItem": paired}]
    if isinstance(body, str):
        return [{"json": {prop: body}, "pairedItem": paired}]
    out: list[Item] = []
    for json_value in _body_items(body, "data", p.options.splitIntoItems):
        out.append({"json": json_value, "pairedItem": paired})
    return out


def status_error(resp: Response, method: str, index: int) -> NodeError:
    """The error for an HTTP status >= 400: names the item and the status; 5xx and 429 may be retried."""
    snippet = resp.text()[:500].strip()
    return NodeError(
        f"item {index}: {method} {resp.url} returned HTTP {resp.status} {resp.reason}".rstrip(),
        item_index=index,
        retryable=resp.status >= 500 or resp.status == 429,
        description=snippet or None,
    )
