"""Webhook routing and request decoding: pure logic, no web framework.

The route table maps ``(method, path)`` to the workflow node that listens there. Paths may hold
parameters (``orders/:id``). Lookup rules, in order:

- a static path (no parameters) beats any parameterised one;
- among parameterised paths of the same length, the one with more static segments wins, then
  the one whose first differing segment is static;
- a path that matches with another method answers ``MethodNotAllowed`` (HTTP 405) listing the
  allowed methods; no match at all is ``NotFound`` (404).

A registration is unique per (method, path); registering a taken one raises ``Conflict``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from relayflow.engine.items import Item
from relayflow.errors import Conflict, InputInvalid

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT", "OPTIONS")


@dataclass(frozen=True)
class Registration:
    method: str
    path: str  # normalised: no leading/trailing slash
    workflow_id: str
    node: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    registration: Registration
    params: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class NotFound:
    path: str


def normalize_path(path: str) -> str:
    """``/Orders//:id/`` → ``Orders/:id`` (segments kept case-sensitive, as URLs are)."""
    return "/".join(seg for seg in path.strip().split("/") if seg)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(normalize_path(path).split("/")) if normalize_path(path) else ()


def _is_param(segment: str) -> bool:
    return segment.startswith(":") and len(segment) > 1


@dataclass
class _Dynamic:
    segments: tuple[str, ...]
    by_method: dict[str, Registration] = field(default_factory=dict)

    @property
    def rank(self) -> tuple[int, tuple[int, ...]]:
        """Sort key: more static segments first, then static segments earlier."""
        flags = tuple(1 if _is_param(s) else 0 for s in self.segments)
        return (sum(flags), flags)

    def bind(self, parts: tuple[str, ...]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if _is_param(pattern):
                params[pattern[1:]] = unquote(part)
            elif pattern != part:
                return None
        return params


class RouteTable:
    """Webhook routes, rebuilt from the store on activation; lookups are O(1) for static paths."""

    def __init__(self, registrations: Iterable[Registration] = ()) -> None:
        self._static: dict[str, dict[str, Registration]] = {}
        self._dynamic: dict[int, list[_Dynamic]] = {}
        for r in registrations:
            self.add(r)

    def add(self, reg: Registration) -> None:
        method = reg.method.upper()
        if method not in METHODS:
            raise InputInvalid(f"unsupported webhook method {reg.method!r}")
        segments = _segments(reg.path)
        if not segments:
            raise InputInvalid("a webhook path cannot be empty")
        reg = Registration(method, "/".join(segments), reg.workflow_id, reg.node, reg.options)
        if any(_is_param(s) for s in segments):
            bucket = self._dynamic.setdefault(len(segments), [])
            entry = next((d for d in bucket if d.segments == segments), None)
            if entry is None:
                entry = _Dynamic(segments)
                bucket.append(entry)
                bucket.sort(key=lambda d: d.rank)
            target = entry.by_method
        else:
            target = self._static.setdefault(reg.path, {})
        if method in target:
            other = target[method]
            raise Conflict(
                f"webhook {method} /{reg.path} is already used by workflow {other.workflow_id!r} "
                f"(node {other.node!r})"
            )
        target[method] = reg

    def remove_workflow(self, workflow_id: str) -> None:
        for path in list(self._static):
            methods = self._static[path]
            for m in [m for m, r in methods.items() if r.workflow_id == workflow_id]:
                del methods[m]
            if not methods:
                del self._static[path]
        for length, bucket in list(self._dynamic.items()):
            for entry in bucket:
                for m in [m for m, r in entry.by_method.items() if r.workflow_id == workflow_id]:
                    del entry.by_method[m]
            self._dynamic[length] = [d for d in bucket if d.by_method]

    def __len__(self) -> int:
        return sum(len(m) for m in self._static.values()) + sum(
            len(d.by_method) for bucket in self._dynamic.values() for d in bucket
        )

    def lookup(self, method: str, path: str) -> Match | MethodNotAllowed | NotFound:
        method = method.upper()
        norm = normalize_path(path)
        allowed: set[str] = set()
        static = self._static.get(norm)
        if static is not None:
            reg = static.get(method) or (static.get("GET") if method == "HEAD" else None)
            if reg is not None:
                return Match(reg, {})
            allowed.update(static)
        parts = tuple(norm.split("/")) if norm else ()
        for entry in self._dynamic.get(len(parts), ()):
            params = entry.bind(parts)
            if params is None:
                continue
            reg = entry.by_method.get(method) or (entry.by_method.get("GET") if method == "HEAD" else None)
            if reg is not None:
                return Match(reg, params)
            allowed.update(entry.by_method)
        if allowed:
            return MethodNotAllowed(tuple(sorted(allowed)))
        return NotFound(norm)


# --- request → item ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str | None
    content_type: str
    data: bytes
    # the entry of the bytes already in the binary store (the server's uploads)
    entry: dict[str, Any] | None = None


def _binary_entry(upload: Upload) -> dict[str, Any]:
    """n8n's binary shape: the stored entry, or the bytes inline as base64."""
    if upload.entry is not None:
        return upload.entry
    entry: dict[str, Any] = {
        "data": base64.b64encode(upload.data).decode(),
        "mimeType": upload.content_type or "application/octet-stream",
        "fileSize": len(upload.data),
    }
    if upload.filename:
        entry["fileName"] = upload.filename
        if "." in upload.filename:
            entry["fileExtension"] = upload.filename.rsplit(".", 1)[1].lower()
    return entry


def decode_body(content_type: str, body: bytes) -> Any:
    """The ``body`` field of a webhook item for a non-multipart request.

    JSON → the value; form-urlencoded → an object (repeated keys become lists); text, XML and
    anything else textual → a string; undecodable bytes → raise InputInvalid (415-worthy).
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InputInvalid(f"the request body is not valid JSON: {exc}") from exc
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise InputInvalid("the request body is not UTF-8 text; send it as multipart/form-data") from exc
    if ctype == "application/x-www-form-urlencoded":
        form: dict[str, Any] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            if key in form:
                prev = form[key]
                form[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                form[key] = value
        return form
    return text


def webhook_item(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    params: Mapping[str, str],
    body: Any,
    uploads: Iterable[Upload] = (),
    webhook_url: str | None = None,
    mode: str = "production",
) -> Item:
    """The item a Webhook node emits: n8n's ``{headers, params, query, body}`` (+ binary files)."""
    q: dict[str, Any] = {}
    for key, value in query:
        if key in q:
            prev = q[key]
            q[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            q[key] = value
    json: dict[str, Any] = {
        "headers": {k.lower(): v for k, v in headers.items()},
        "params": dict(params),
        "query": q,
        "body": body,
        "executionMode": mode,
    }
    if webhook_url:
        json["webhookUrl"] = webhook_url
    item: Item = {"json": json}
    binary: dict[str, Any] = {}
    for upload in uploads:
        name = upload.field or "data"
        key, n = name, 1
        while key in binary:
            key, n = f"{name}{n}", n + 1
        binary[key] = _binary_entry(upload)
    if binary:
        item["binary"] = binary
    return item
