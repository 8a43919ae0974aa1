"""Slack: post and update messages, upload files (n8n ``slack`` v1, v2-v2.3).

``resource: message`` with ``post`` and ``update``, and ``resource: file`` with ``upload`` (from a
binary property or text; Slack's three-step external upload, see ``slack_files``) run; every
other resource/operation fails with a clear "not supported yet" node error.

Authentication as in n8n: ``accessToken`` takes a ``slackApi`` credential's token, ``oAuth2`` a
``slackOAuth2Api`` credential's stored access token (fetched by the authorization-code flow and
refreshed by the credential service when Slack's token rotation gives it an expiry). Either is sent
as ``Authorization: Bearer`` to the credential's ``baseUrl`` (default ``https://slack.com/api``)
through the engine's shared, SSRF-guarded HTTP session.

Slack reports failures as HTTP 200 with ``{"ok": false, "error": code}``: the node turns that into
a node error naming Slack's code. ``ratelimited`` / HTTP 429 is retried here, honouring
``Retry-After``; a 5xx is a retryable node error (the node's ``retryOnFail`` decides). Items go
one after another: Slack rate-limits per channel, and order matters in a conversation.

A message's output item is Slack's whole answer (``ok``, ``channel``, ``ts``, ``message``); an
upload's is Slack's file object (``id``, ``title``, ``name`` ...). n8n v2.1+
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
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.slack_files import FileUpload, channel_list, upload
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
    # file upload: the bytes come from a binary property, or from text
    binary_data: bool = False
    binary_property: str = "data"
    file_content: str = ""
    # channel ids: a list, one id, or a comma list
    channel_ids: Any = None
    file_name: str = ""
    title: str = ""
    initial_comment: str = ""


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
    ctx: NodeContext,
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    body: dict[str, Any],
    i: int,
    *,
    form: bool = False,
) -> dict[str, Any]:
    """One Web API call: a JSON body, or form fields (the ``files.*`` upload methods take no JSON)."""
    import aiohttp

    method = url.rsplit("/", 1)[-1]
    kind = "application/x-www-form-urlencoded" if form else "application/json; charset=utf-8"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": kind}
    data = urlencode(body) if form else json.dumps(body)
    for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
        try:
            async with session.post(
                url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
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


SUPPORTED = {"message": ("post", "update"), "file": ("upload",)}
CREDENTIAL_OF = {"accessToken": "slackApi", "oAuth2": "slackOAuth2Api"}


def _unsupported(p: Params) -> str | None:
    if p.operation not in SUPPORTED.get(p.resource, ()):
        return (
            f"Slack {p.resource} {p.operation!r} is not supported yet "
            "(message post and update, and file upload are)"
        )
    if p.authentication not in CREDENTIAL_OF:
        return f"Slack {p.authentication!r} authentication is not supported (accessToken and oAuth2 are)"
    return None


async def _auth(ctx: NodeContext, p: Params) -> tuple[str, str]:
    """(token, API base URL) from the credential the authentication names."""
    type_ = CREDENTIAL_OF[p.authentication]
    cred = await ctx.credentials(type_)
    if type_ == "slackOAuth2Api":
        tokens = cred.get("oauthTokenData")
        tokens = tokens if isinstance(tokens, Mapping) else {}
        # token data imported from n8n may hold only the user token (an install with user scopes)
        user = tokens.get("authed_user")
        token = tokens.get("access_token") or (
            user.get("access_token") if isinstance(user, Mapping) else None
        )
        missing = "holds no access token: connect it (its oauth2/authorize URL) first"
    else:
        token = cred.get("accessToken")
        missing = "has no access token"
    if not isinstance(token, str) or not token:
        raise NodeError(f"the {type_} credential {missing}", node=ctx.node_name, retryable=False)
    return token, str(cred.get("baseUrl") or DEFAULT_BASE_URL).rstrip("/")


def _file_upload(p: Params) -> FileUpload:
    return FileUpload(
        binary_data=p.binary_data,
        binary_property=p.binary_property,
        file_content=p.file_content,
        channels=channel_list(p.channel_ids),
        file_name=p.file_name,
        title=p.title,
        initial_comment=p.initial_comment,
        thread_ts=p.thread_ts,
    )


async def _one(
    ctx: NodeContext, session: aiohttp.ClientSession, auth: tuple[str, str], item: Item, p: Params, i: int
) -> dict[str, Any]:
    token, base = auth
    if p.resource == "file":

        async def api(method: str, form: dict[str, str]) -> dict[str, Any]:
            return await _call(ctx, session, f"{base}/{method}", token, form, i, form=True)

        return await upload(ctx, session, api, base, item, _file_upload(p))
    method = "chat.update" if p.operation == "update" else "chat.postMessage"
    return await _call(ctx, session, f"{base}/{method}", token, _body(ctx, p, i), i)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    problem = _unsupported(params)
    if problem is not None:
        raise NodeError(problem, node=ctx.node_name, retryable=False)
    auth = await _auth(ctx, params)
    all_params = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    async with _session(ctx) as session:
        for i, (item, ip) in enumerate(zip(items, cast("list[Params]", all_params), strict=True)):
            try:
                answer = await _one(ctx, session, auth, item, ip, i)
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


def _file_from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    opts = p.get("options") or {}
    out: dict[str, Any] = {
        "resource": "file",
        "operation": p.get("operation", "upload"),
        "authentication": p.get("authentication", "accessToken"),
        # v2.2+ always uploads a binary property; before, binaryData chose binary or text
        "binary_data": True if version >= 2.2 else p.get("binaryData", False),
        "binary_property": p.get("binaryPropertyName", "data"),
        "file_content": p.get("fileContent", ""),
        # v2.2+ has one channelId, earlier versions a channelIds list
        "channel_ids": opts.get("channelId") if "channelId" in opts else opts.get("channelIds"),
    }
    for theirs, ours in {
        "fileName": "file_name",
        "title": "title",
        "initialComment": "initial_comment",
        "threadTs": "thread_ts",
    }.items():
        if theirs in opts:
            out[ours] = opts[theirs]
    return out


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    if p.get("resource") == "file":
        return _file_from_n8n(p, version)
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
        description="Post and update Slack messages (text, blocks, attachments, thread replies); upload files.",
        params=Params,
        execute=execute,
        credentials=(CredentialSlot("slackApi"), CredentialSlot("slackOAuth2Api")),
        aliases=(N8nAlias("n8n-nodes-base.slack", (1, 2, 2.1, 2.2, 2.3), translate=from_n8n),),
    ),
)
