"""Slack: post and update messages through a ``slackApi`` credential (n8n ``slack`` v1, v2-v2.3).

Only ``resource: message`` with ``post`` and ``update`` runs; file upload needs binary data and
every other resource/operation fails with a clear "not supported yet" node error. The token is
sent as ``Authorization: Bearer`` to the credential's ``baseUrl`` through the engine's shared,
SSRF-guarded HTTP session. n8n's ``oAuth2`` authentication needs a Slack OAuth2 credential type
relayflow does not have yet, so it is refused with a node error naming the alternative.

Slack reports failures as HTTP 200 with ``{"ok": false, "error": code}``: the node turns that into
a node error naming Slack's code. ``ratelimited`` / HTTP 429 is retried here, honouring
``Retry-After``; a 5xx is a retryable node error (the node's ``retryOnFail`` decides). Items go
one after another: Slack rate-limits per channel, and order matters in a conversation.

The output item is Slack's whole answer (``ok``, ``channel``, ``ts``, ``message``). n8n v2.1+
appends a link to the workflow by default (``includeLinkToWorkflow``); relayflow has no public
workflow URL unless ``RELAYFLOW_PUBLIC_URL`` is set, so the link line is appended only then.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec

if TYPE_CHECKING:  # aiohttp is loaded when the node runs, not when the registry is built
    import aiohttp

PUBLIC_URL_ENV = "RELAYFLOW_PUBLIC_URL"
DEFAULT_BASE_URL = "https://slack.com/api"
TIMEOUT_S = 30.0
# rate-limit answers retried inside one item before giving up (then retryOnFail may take over)
MAX_RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER_S = 60.0

# chat.postMessage / chat.update fields passed through from the options as they are
PASSTHROUGH = (
    "mrkdwn",
    "unfurl_links",
    "unfurl_media",
    "link_names",
    "parse",
    "username",
    "icon_emoji",
    "icon_url",
    "as_user",
    "reply_broadcast",
)


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: str = "message"
    operation: str = "post"
    authentication: str = "accessToken"
    # post: the conversation; a channel id, "#name", a user id (DM) or "@username"
    channel: str = ""
    text: str = ""
    # a list of blocks, {"blocks": [...]}, or either as a JSON string
    blocks: Any = None
    # a list of attachment objects, or a JSON string of one
    attachments: Any = None
    thread_ts: str = ""
    include_link: bool = False
    # further chat.* fields (see PASSTHROUGH)
    options: dict[str, Any] = Field(default_factory=dict)
    # update: the timestamp of the message to change
    ts: str = ""


def _json_list(value: Any, what: str, key: str, i: int) -> list[Any] | None:
    """A list of blocks / attachments, given as a list, ``{key: [...]}`` or either as JSON text
    (expressions often build them as strings)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NodeError(
                f"{what} must be JSON: a list or {{{key!r}: [...]}}", item_index=i, retryable=False
            ) from None
    if isinstance(value, Mapping):
        value = value.get(key)
    if not isinstance(value, list):
        raise NodeError(f"{what} must be a list or {{{key!r}: [...]}}", item_index=i, retryable=False)
    return value


def _workflow_link(ctx: NodeContext) -> str | None:
    base = os.environ.get(PUBLIC_URL_ENV, "").rstrip("/")
    wf_id = ctx.workflow.id
    if not base or not wf_id:
        return None
    return f"{base}/api/v1/workflows/{wf_id}"


def _body(ctx: NodeContext, p: Params, i: int) -> dict[str, Any]:
    if not p.channel:
        raise NodeError("no channel or user to post to", item_index=i, retryable=False)
    body: dict[str, Any] = {"channel": p.channel}
    text = p.text
    link = _workflow_link(ctx) if p.include_link and p.operation == "post" else None
    if link:
        text = f"{text}\n_Automated with this <{link}|relayflow workflow>_"
    if text:
        body["text"] = text
    blocks = _json_list(p.blocks, "blocks", "blocks", i)
    if blocks is not None:
        body["blocks"] = blocks
    attachments = _json_list(p.attachments, "attachments", "attachments", i)
    if attachments is not None:
        body["attachments"] = attachments
    if p.operation == "update":
        if not p.ts:
            raise NodeError("update needs the ts of the message to change", item_index=i, retryable=False)
        body["ts"] = p.ts
    elif p.thread_ts:
        body["thread_ts"] = p.thread_ts
    body.update({k: v for k, v in p.options.items() if k in PASSTHROUGH and v not in (None, "")})
    if "text" not in body and "blocks" not in body and "attachments" not in body:
        raise NodeError("the message has no text, blocks or attachments", item_index=i, retryable=False)
    return body


async def _call(
    ctx: NodeContext, session: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any], i: int
) -> dict[str, Any]:
    import aiohttp

    method = url.rsplit("/", 1)[-1]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
    for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
        try:
            async with session.post(
                url, data=json.dumps(body), headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as r:
                status, retry_after = r.status, r.headers.get("Retry-After")
                raw = await r.read()
        except TimeoutError:
            raise NodeError(f"Slack {method} timed out after {TIMEOUT_S:g} s", item_index=i) from None
        except aiohttp.ClientError as exc:
            raise NodeError(f"Slack {method} failed: {exc or type(exc).__name__}", item_index=i) from exc
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        code = answer.get("error") if isinstance(answer, dict) else None
        if status == 429 or code == "ratelimited":
            if attempt < MAX_RATE_LIMIT_RETRIES:
                try:
                    wait_s = float(retry_after or 1)
                except ValueError:
                    wait_s = 1.0
                await ctx.sleep(min(max(wait_s, 0.0), MAX_RETRY_AFTER_S))
                continue
            raise NodeError(f"Slack {method}: ratelimited (gave up after {attempt} retries)", item_index=i)
        if status >= 500:
            raise NodeError(f"Slack {method}: HTTP {status}", item_index=i, retryable=True)
        if not isinstance(answer, dict):
            raise NodeError(
                f"Slack {method}: HTTP {status} without a JSON object", item_index=i, retryable=False
            )
        if answer.get("ok") is not True:
            detail = f" (needed: {answer['needed']})" if answer.get("needed") else ""
            raise NodeError(
                f"Slack {method} failed: {code or f'HTTP {status}'}{detail}", item_index=i, retryable=False
            )
        return answer
    raise AssertionError("unreachable")  # pragma: no cover


@asynccontextmanager
async def _session(ctx: NodeContext) -> AsyncIterator[aiohttp.ClientSession]:
    """The engine's shared, SSRF-guarded session; a guarded one of our own when there is none."""
    import aiohttp

    from relayflow.http_session import SharedSession
    from relayflow.security.ssrf_http import guarded_session

    shared = getattr(ctx.services, "http", None)
    if isinstance(shared, SharedSession):
        shared = await shared.get()
    if isinstance(shared, aiohttp.ClientSession):
        yield shared
        return
    async with guarded_session(limit=1) as session:
        yield session


def _unsupported(p: Params) -> str | None:
    if p.resource == "file":
        return "Slack file upload is not supported yet (it needs binary data)"
    if p.resource != "message" or p.operation not in ("post", "update"):
        return f"Slack {p.resource} {p.operation!r} is not supported yet (message post and update are)"
    if p.authentication != "accessToken":
        return (
            f"Slack {p.authentication!r} authentication is not supported yet: "
            "use a slackApi (access token) credential"
        )
    return None


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    problem = _unsupported(params)
    if problem is not None:
        raise NodeError(problem, node=ctx.node_name, retryable=False)
    cred = await ctx.credentials("slackApi")
    token = str(cred.get("accessToken") or "")
    if not token:
        raise NodeError("the slackApi credential has no access token", node=ctx.node_name, retryable=False)
    base = str(cred.get("baseUrl") or DEFAULT_BASE_URL).rstrip("/")
    all_params = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    async with _session(ctx) as session:
        for i, ip in enumerate(cast("list[Params]", all_params)):
            method = "chat.update" if ip.operation == "update" else "chat.postMessage"
            try:
                answer = await _call(ctx, session, f"{base}/{method}", token, _body(ctx, ip, i), i)
            except NodeError as exc:
                exc.node = exc.node or ctx.node_name
                failed = ctx.fail_item(exc, i)
                if failed is not None:
                    out.append(failed)
                continue
            out.append({"json": answer, "pairedItem": {"item": i}})
    return [out]


# n8n -> relayflow ---------------------------------------------------------------------------------

_URL_ID = re.compile(r"/(?:archives|client/[^/]+)/([A-Z0-9]+)")


def _locator(value: Any, *, user: bool = False) -> Any:
    """A resource locator (or a plain string) as the ``channel`` Slack takes."""
    if not isinstance(value, Mapping):
        return value if value is not None else ""
    v, mode = value.get("value", ""), value.get("mode", "id")
    if not isinstance(v, str) or v.startswith("="):
        return v  # an expression: evaluated later, used as it comes out
    if mode == "url":
        m = _URL_ID.search(v)
        return m.group(1) if m else v
    if mode in ("name", "username"):
        prefix = "@" if user else "#"
        return v if v.startswith(prefix) else prefix + v
    return v


def _attachments(value: Any) -> Any:
    """n8n's attachment collection: ``fields: {item: [...]}`` becomes Slack's ``fields: [...]``
    (an expression or JSON string is left for the run to parse)."""
    if not isinstance(value, list):
        return value
    out = []
    for a in value:
        if not isinstance(a, Mapping):
            continue
        a = dict(a)
        fields = a.get("fields")
        if isinstance(fields, Mapping):
            a["fields"] = list(fields.get("item") or [])
        out.append(a)
    return out


def _options(other: Mapping[str, Any]) -> dict[str, Any]:
    opts = {k: v for k, v in other.items() if k in PASSTHROUGH}
    if isinstance(other.get("sendAsUser"), str):
        opts["username"] = other["sendAsUser"]
    image = (other.get("botProfile") or {}).get("imageValues") or {}
    for key in ("icon_emoji", "icon_url"):
        if image.get(key):
            opts[key] = image[key]
    return opts


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    other = dict(p.get("otherOptions") or {})
    out: dict[str, Any] = {
        "resource": p.get("resource", "message"),
        "operation": p.get("operation", "post"),
        "authentication": p.get("authentication", "accessToken"),
        "text": p.get("text", ""),
    }
    if version < 2:
        out["channel"] = p.get("channel", "")
        if p.get("jsonParameters"):  # v1's JSON mode: blocks and attachments as JSON text
            out["attachments"] = p.get("attachmentsJson") or None
            out["blocks"] = p.get("blocksJson") or None
        else:
            out["attachments"] = _attachments(p.get("attachments"))
        if isinstance(other.get("thread_ts"), str):
            out["thread_ts"] = other["thread_ts"]
        out["options"] = _options(other)
        if out["operation"] == "update":
            out["ts"] = p.get("ts", "")
            out["options"] = {**out["options"], **_options(p.get("updateFields") or {})}
        return out
    if p.get("select") == "user":
        out["channel"] = _locator(p.get("user"), user=True)
    else:
        out["channel"] = _locator(p.get("channelId"))
    message_type = p.get("messageType", "text")
    if message_type == "block":
        out["blocks"] = p.get("blocksUi", "")
    elif message_type == "attachment":
        out["attachments"] = _attachments(p.get("attachments"))
    reply = (other.get("thread_ts") or {}).get("replyValues") or {}
    if reply.get("thread_ts"):
        out["thread_ts"] = str(reply["thread_ts"])
    opts = _options(other)
    if "reply_broadcast" in reply:
        opts["reply_broadcast"] = reply["reply_broadcast"]
    out["include_link"] = bool(other.get("includeLinkToWorkflow", version >= 2.1))
    if out["operation"] == "update":
        out["ts"] = p.get("ts", "")
        out["include_link"] = False
        opts.update(_options(p.get("updateFields") or {}))
    out["options"] = opts
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.slack",
        version=1,
        title="Slack",
        group="action",
        description="Post and update Slack messages (text, blocks, attachments, thread replies).",
        params=Params,
        execute=execute,
        credentials=(CredentialSlot("slackApi", required=True),),
        aliases=(N8nAlias("n8n-nodes-base.slack", (1, 2, 2.1, 2.2, 2.3), translate=from_n8n),),
    ),
)
