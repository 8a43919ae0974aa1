"""Build one HTTP request from an item's parameters (query, headers, body).

Kept apart from sending so pagination, credentials (which add headers or query parameters) and an
SSRF guard (which checks ``url``) can hook in later without touching the transport.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from relayflow.engine.items import Item
from relayflow.errors import NodeError
from relayflow.nodes.http_request.params import NameValue, Params


@dataclass
class Request:
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    # exactly one of these carries the body (or none)
    json: Any = None
    data: bytes | str | aiohttp.FormData | list[tuple[str, str]] | None = None

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"params": self.query or None, "headers": self.headers}
        if self.json is not None:
            kw["json"] = self.json
        elif self.data is not None:
            kw["data"] = self.data
        return kw


def invalid(message: str, index: int) -> NodeError:
    """The item's parameters do not make a valid request (retrying will not help)."""
    return NodeError(f"item {index}: {message}", item_index=index, retryable=False)


def text(value: Any) -> str:
    """A parameter value as it goes on the wire."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _json_param(value: Any, what: str, index: int) -> Any:
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"{what} is not valid JSON: {exc}", index) from None


def _query_pairs(name: str, value: Any, arrays: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return [(name, text(value))]
    if arrays == "repeat":
        return [(name, text(v)) for v in value]
    if arrays == "indices":
        return [(f"{name}[{i}]", text(v)) for i, v in enumerate(value)]
    return [(f"{name}[]", text(v)) for v in value]


def _query(p: Params, index: int) -> list[tuple[str, str]]:
    if not p.sendQuery:
        return []
    arrays = p.options.queryParameterArrays
    if p.specifyQuery == "json":
        data = _json_param(p.jsonQuery, "'jsonQuery'", index) or {}
        if not isinstance(data, dict):
            raise invalid("'jsonQuery' must be a JSON object", index)
        pairs = list(data.items())
    else:
        pairs = [(q.name, q.value) for q in p.queryParameters.parameters if q.name]
    return [pair for name, value in pairs for pair in _query_pairs(name, value, arrays)]


def _headers(p: Params, index: int) -> dict[str, str]:
    if not p.sendHeaders:
        return {}
    if p.specifyHeaders == "json":
        data = _json_param(p.jsonHeaders, "'jsonHeaders'", index) or {}
        if not isinstance(data, dict):
            raise invalid("'jsonHeaders' must be a JSON object", index)
        entries = [NameValue(name=str(k), value=v) for k, v in data.items()]
    else:
        entries = [h for h in p.headerParameters.parameters if h.name]
    lower = p.options.lowercaseHeaders
    return {(h.name.lower() if lower else h.name): text(h.value) for h in entries}


def _binary(item: Item, prop: str, index: int) -> tuple[bytes, str, str]:
    """(bytes, mime type, file name) of an item's binary property (n8n's base64 shape)."""
    entry = (item.get("binary") or {}).get(prop)
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), str):
        raise invalid(f"the item has no binary property {prop!r} to send", index)
    try:
        data = base64.b64decode(entry["data"], validate=False)
    except ValueError as exc:
        raise invalid(f"binary property {prop!r} is not base64: {exc}", index) from None
    mime = str(entry.get("mimeType") or "application/octet-stream")
    return data, mime, str(entry.get("fileName") or prop)


def _multipart(p: Params, item: Item, index: int) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for b in p.bodyParameters.parameters:
        if b.parameterType == "formBinaryData":
            data, mime, name = _binary(item, b.inputDataFieldName or "data", index)
            form.add_field(b.name, data, content_type=mime, filename=name)
        else:
            form.add_field(b.name, text(b.value))
    return form


def _body(p: Params, item: Item, req: Request, index: int) -> None:
    kind = p.contentType
    if kind == "binaryData":
        data, mime, _ = _binary(item, p.inputDataFieldName or "data", index)
        req.data = data
        req.headers.setdefault("content-type", mime)
    elif kind == "multipart-form-data":
        req.data = _multipart(p, item, index)
    elif kind == "raw" or p.specifyBody == "string":
        raw = p.body if p.body not in ("", None) else p.jsonBody
        req.data = raw if isinstance(raw, str) else text(raw)
        default = "application/x-www-form-urlencoded" if kind == "form-urlencoded" else "text/plain"
        req.headers.setdefault("content-type", p.rawContentType or default)
    elif kind == "form-urlencoded":
        req.data = [(b.name, text(b.value)) for b in p.bodyParameters.parameters if b.name]
    elif p.specifyBody == "json":
        req.json = _json_param(p.jsonBody, "'jsonBody'", index)
    else:
        req.json = {b.name: b.value for b in p.bodyParameters.parameters if b.name}


def build(p: Params, item: Item, index: int) -> Request:
    url = p.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"'url' must be an http:// or https:// URL, got {url!r}", index)
    req = Request(method=p.method, url=url, query=_query(p, index), headers=_headers(p, index))
    if p.sendBody:
        _body(p, item, req, index)
    return req
