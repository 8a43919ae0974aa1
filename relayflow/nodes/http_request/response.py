"""Turn an HTTP response into items (JSON, text or file; full response or body only)."""

from __future__ import annotations

import base64
import mimetypes
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

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

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


def _kind(resp: Response, fmt: str) -> str:
    """ "json", "text" or "file" for a response under ``responseFormat``."""
    if fmt != "autodetect":
        return fmt
    ctype = resp.content_type
    if "json" in ctype or not resp.body.strip():
        return "json"  # an empty body (204 No Content...) is an empty item
    if not ctype or any(t in ctype for t in _TEXT_TYPES):
        return "text"
    return "file"


def _file(resp: Response) -> dict[str, Any]:
    """The body as n8n's binary data entry."""
    mime = resp.content_type or "application/octet-stream"
    name = resp.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "file"
    ext = (mimetypes.guess_extension(mime) or "").lstrip(".")
    entry: dict[str, Any] = {
        "data": base64.b64encode(resp.body).decode("ascii"),
        "mimeType": mime,
        "fileName": name,
        "fileSize": len(resp.body),
    }
    if ext:
        entry["fileExtension"] = ext
    return entry


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


def _body_items(value: Any, prop: str, split: bool) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and split:
        return [v if isinstance(v, dict) else {prop: v} for v in value]
    return [{prop: value}]


def to_items(resp: Response, p: Params, index: int) -> Items:
    settings = p.response
    prop = settings.outputPropertyName or "data"
    kind = _kind(resp, settings.responseFormat)
    paired = {"item": index}
    meta = {"headers": resp.headers, "statusCode": resp.status, "statusMessage": resp.reason}
    if kind == "file":
        json: dict[str, Any] = meta if settings.fullResponse else {}
        return [{"json": json, "binary": {prop: _file(resp)}, "pairedItem": paired}]
    body: Any
    if kind == "json":
        body = _decode_json(resp, index, strict=settings.responseFormat == "json")
    else:
        body = resp.text()
    if settings.fullResponse:
        return [{"json": {"body": body, **meta}, "pairedItem": paired}]
    if kind == "text" or isinstance(body, str):
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
