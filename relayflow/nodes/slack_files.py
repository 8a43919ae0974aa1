"""Slack file upload (n8n ``slack`` resource ``file``, operation ``upload``), for ``slack_node``.

Slack's current flow, three requests per file (``files.upload`` is retired):

1. ``files.getUploadURLExternal`` (``filename``, ``length``) answers an ``upload_url`` and a
   ``file_id``;
2. the bytes are POSTed to ``upload_url``, streamed from ``ctx.binary`` with a Content-Length
   (never held whole in memory); the URL is signed, so the token is not sent there;
3. ``files.completeUploadExternal`` (``files=[{id, title}]``, ``channel_id`` or ``channels``,
   ``initial_comment``, ``thread_ts``) shares it; its ``files[0]`` is the node's output item.

The upload URL comes from Slack's answer, so it is checked before anything is sent to it: it
must be on ``slack.com`` (or a subdomain, such as ``files.slack.com``) over HTTPS, or on the host
of the credential's configured API base URL (or a subdomain; the base URL's own scheme is then
accepted too, so a local stand-in may be plain HTTP). Anything else is refused with a node error.
The request still goes through the SSRF-guarded session like every other Slack call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item
from relayflow.errors import InputInvalid, NodeError, NotFound

if TYPE_CHECKING:
    import aiohttp

# (Slack API method, form fields) -> Slack's answer (``ok`` already checked)
Api = Callable[[str, dict[str, str]], Awaitable[dict[str, Any]]]

SLACK_HOST = "slack.com"
# waiting for the upload server between chunks or for its answer; the whole upload has no limit
UPLOAD_SOCK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FileUpload:
    """What one item uploads (from the node's parameters)."""

    binary_data: bool
    binary_property: str
    file_content: str
    channels: tuple[str, ...]
    file_name: str
    title: str
    initial_comment: str
    thread_ts: str


def channel_list(value: Any) -> tuple[str, ...]:
    """n8n's ``channelIds`` (a list) or ``channelId`` (one id), or a comma list from an
    expression, as channel ids."""
    if value is None or value == "":
        return ()
    if isinstance(value, Mapping):  # a resource locator
        value = value.get("value", "")
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(s for s in (str(p).strip() for p in parts if p is not None) if s)


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def upload_url_allowed(url: str, base_url: str) -> bool:
    """Whether Slack's ``upload_url`` may receive the file (see the module docstring)."""
    parts, base = urlsplit(url), urlsplit(base_url)
    host, base_host = (parts.hostname or "").lower(), (base.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    if _under(host, SLACK_HOST):
        return parts.scheme == "https"
    if not base_host or parts.scheme not in ("https", base.scheme):
        return False
    try:
        ip_address(base_host)
    except ValueError:
        return _under(host, base_host)
    return host == base_host  # an address has no subdomains


@dataclass(frozen=True)
class _Source:
    name: str
    size: int
    chunks: Callable[[], AsyncIterator[bytes]]


async def _text_chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _source(ctx: NodeContext, item: Item, f: FileUpload) -> _Source:
    if not f.binary_data:
        data = f.file_content.encode("utf-8")
        return _Source(f.file_name or "file.txt", len(data), lambda: _text_chunks(data))
    prop = f.binary_property or "data"
    entry = ctx.binary.entry(item, prop)
    try:
        size = await ctx.binary.size(entry)
    except (NotFound, InputInvalid) as exc:  # the bytes are gone (or the reference is bad)
        raise NodeError(f"binary property {prop!r}: {exc.message}", retryable=False) from exc
    name = f.file_name or str(entry.get("fileName") or "") or prop
    return _Source(name, size, lambda: ctx.binary.stream(entry))


async def _send_bytes(session: aiohttp.ClientSession, url: str, source: _Source) -> None:
    import aiohttp

    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(source.size)}
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=UPLOAD_SOCK_TIMEOUT_S, sock_read=UPLOAD_SOCK_TIMEOUT_S
    )
    try:
        async with session.post(url, data=source.chunks(), headers=headers, timeout=timeout) as r:
            status = r.status
            await r.read()
    except TimeoutError:
        raise NodeError("Slack file upload timed out") from None
    except aiohttp.ClientError as exc:
        raise NodeError(f"Slack file upload failed: {exc or type(exc).__name__}") from exc
    if status >= 500:
        raise NodeError(f"Slack file upload: HTTP {status}", retryable=True)
    if status >= 400:
        raise NodeError(f"Slack file upload refused: HTTP {status}", retryable=False)


async def upload(
    ctx: NodeContext, session: aiohttp.ClientSession, api: Api, base_url: str, item: Item, f: FileUpload
) -> dict[str, Any]:
    """Upload one item's file and share it; Slack's file object."""
    source = await _source(ctx, item, f)
    got = await api("files.getUploadURLExternal", {"filename": source.name, "length": str(source.size)})
    url, file_id = got.get("upload_url"), got.get("file_id")
    if not isinstance(url, str) or not isinstance(file_id, str) or not file_id:
        raise NodeError("Slack files.getUploadURLExternal answered without upload_url and file_id")
    if not upload_url_allowed(url, base_url):
        host = urlsplit(url).hostname or "?"
        raise NodeError(
            f"Slack answered an upload URL on {host!r}, which is neither slack.com nor the API base "
            "URL's host: refused",
            retryable=False,
        )
    await _send_bytes(session, url, source)
    form = {"files": json.dumps([{"id": file_id, "title": f.title or source.name}])}
    if len(f.channels) == 1:
        form["channel_id"] = f.channels[0]
    elif f.channels:
        form["channels"] = ",".join(f.channels)
    if f.initial_comment:
        form["initial_comment"] = f.initial_comment
    if f.thread_ts:
        form["thread_ts"] = f.thread_ts
    done = await api("files.completeUploadExternal", form)
    files = done.get("files")
    if isinstance(files, list) and files and isinstance(files[0], dict):
        return files[0]
    return done
