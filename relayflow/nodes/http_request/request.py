"""Build one HTTP request from an item's parameters (query, headers, body).

Kept apart from sending (``transport.py``) so pagination can change a built request (its URL, a
query, body or header parameter) and credentials are applied to each hop as it goes out. Binary
bodies (``binaryData``, multipart files) are read from the binary store through ``ctx.binary``:
small ones as bytes, big ones streamed (``Request.data`` makes a fresh body for each send, so a
redirect that keeps the body can send it again).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from relayflow.engine.binary import BinaryData, key_of
from relayflow.engine.items import Item
from relayflow.errors import NodeError
from relayflow.nodes.http_request.params import NameValue, Params

# binary bodies up to this size are read whole (and can be re-sent as they are); bigger are streamed
STREAM_MIN_BYTES = 1 << 20

Body = bytes | aiohttp.FormData | AsyncIterator[bytes]


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    # at most one of these carries the body: a JSON value, form fields, raw text, or a maker of
    # the body (binary and multipart: a fresh one for each send)
    json: Any = None
    form: list[tuple[str, str]] | None = None
    content: str | None = None
    data: Callable[[], Body] | None = None

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"params": self.query or None, "headers": self.headers}
        if self.json is not None:
            kw["json"] = self.json
        elif self.form is not None:
            kw["data"] = self.form
        elif self.content is not None:
            kw["data"] = self.content
        elif self.data is not None:
            kw["data"] = self.data()
        return kw

    def with_(self, **changes: Any) -> Request:
        return replace(self, **changes)

    def without_body(self) -> Request:
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("content-type", "content-length")
        }
        return replace(self, json=None, form=None, content=None, data=None, headers=headers)

    def view(self) -> dict[str, Any]:
        """The request as ``$request`` shows it to pagination expressions."""
        body = (
            self.json if self.json is not None else dict(self.form) if self.form is not None else self.content
        )
        return {
            "method": self.method,
            "url": self.url,
            "qs": dict(self.query),
            "headers": self.headers,
            "body": body,
        }


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


def check_url(url: str, index: int) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"'url' must be an http:// or https:// URL, got {url!r}", index)
    return url


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


def query_pairs(pairs: list[tuple[str, Any]], arrays: str) -> list[tuple[str, str]]:
    return [pair for name, value in pairs for pair in _query_pairs(name, value, arrays)]


def _query(p: Params, index: int) -> list[tuple[str, str]]:
    if not p.sendQuery:
        return []
    if p.specifyQuery == "json":
        data = _json_param(p.jsonQuery, "'jsonQuery'", index) or {}
        if not isinstance(data, dict):
            raise invalid("'jsonQuery' must be a JSON object", index)
        pairs = list(data.items())
    else:
        pairs = [(q.name, q.value) for q in p.queryParameters.parameters if q.name]
    return query_pairs(pairs, p.options.queryParameterArrays)


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


@dataclass(frozen=True)
class _Binary:
    body: Callable[[], bytes | AsyncIterator[bytes]]
    size: int
    mime: str
    name: str


async def _binary(binary: BinaryData, item: Item, prop: str, index: int) -> _Binary:
    """An item's binary property, read whole when small, else streamed at each send."""
    try:
        entry = binary.entry(item, prop)
        size = entry.get("bytes")
        whole = None
        if key_of(entry) is None or not isinstance(size, int) or size <= STREAM_MIN_BYTES:
            whole = await binary.get(entry)
    except NodeError as exc:
        raise invalid(exc.message, index) from None
    mime = str(entry.get("mimeType") or "application/octet-stream")
    name = str(entry.get("fileName") or prop)
    if whole is not None:
        data = whole
        return _Binary(lambda: data, len(data), mime, name)
    assert isinstance(size, int)  # narrowed above: a stored entry with its size
    return _Binary(lambda: binary.stream(entry), size, mime, name)


async def _multipart(binary: BinaryData, p: Params, item: Item, index: int) -> Callable[[], Body]:
    fields: list[tuple[str, Any, _Binary | None]] = []
    for b in p.bodyParameters.parameters:
        if b.parameterType == "formBinaryData":
            fields.append((b.name, None, await _binary(binary, item, b.inputDataFieldName or "data", index)))
        else:
            fields.append((b.name, text(b.value), None))

    def make() -> aiohttp.FormData:
        form = aiohttp.FormData()
        for name, value, file in fields:
            if file is None:
                form.add_field(name, value)
            else:
                form.add_field(name, file.body(), content_type=file.mime, filename=file.name)
        return form

    return make


async def _body(binary: BinaryData, p: Params, item: Item, req: Request, index: int) -> Request:
    kind = p.contentType
    headers = dict(req.headers)
    if kind == "binaryData":
        file = await _binary(binary, item, p.inputDataFieldName or "data", index)
        headers.setdefault("content-type", file.mime)
        headers.setdefault("content-length", str(file.size))
        return req.with_(data=file.body, headers=headers)
    if kind == "multipart-form-data":
        return req.with_(data=await _multipart(binary, p, item, index))
    if kind == "raw" or p.specifyBody == "string":
        raw = p.body if p.body not in ("", None) else p.jsonBody
        default = "application/x-www-form-urlencoded" if kind == "form-urlencoded" else "text/plain"
        headers.setdefault("content-type", p.rawContentType or default)
        return req.with_(content=raw if isinstance(raw, str) else text(raw), headers=headers)
    if kind == "form-urlencoded":
        return req.with_(form=[(b.name, text(b.value)) for b in p.bodyParameters.parameters if b.name])
    if p.specifyBody == "json":
        return req.with_(json=_json_param(p.jsonBody, "'jsonBody'", index))
    return req.with_(json={b.name: b.value for b in p.bodyParameters.parameters if b.name})


async def build(binary: BinaryData, p: Params, item: Item, index: int) -> Request:
    url = check_url(p.url, index)
    req = Request(method=p.method, url=url, query=_query(p, index), headers=_headers(p, index))
    if p.sendBody:
        req = await _body(binary, p, item, req, index)
    return req
