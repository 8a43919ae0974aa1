"""Wait: pause the execution, then pass the items on.

Under the server (``ctx.can_park``) the wait is durable: a wait of ``wait_park_after_s`` (1 s by
default, ``RELAYFLOW_WAIT_PARK_AFTER_S``) or more, and every wait for a call, parks the execution (stored as ``waiting``, no task or memory held beyond a
timer entry); it resumes when the time comes or ``$execution.resumeUrl`` is called
(``/webhook-waiting/{executionId}``), also after a restart. A call's request becomes the output
item (``{headers, params, query, body}`` as from a Webhook node); a time that came passes the
input items on; with ``limitWaitTime`` a call that never comes lets the items pass at the limit.
``incomingAuthentication`` (basicAuth, headerAuth, signature, with the node's credential) and
``options.ipWhitelist`` guard the resume URL as they guard a Webhook node's URL: the server checks
a call before it claims the wait, so a refused call leaves the execution waiting.

Elsewhere (``relayflow run``, sub-workflows waited for in process) a time interval or a specific
time sleeps through ``ctx.sleep`` (instant under the fake clock of tests) and waiting for a call
fails clearly. n8n's Wait v1 defaults to 1 hour; v1.1 (and ours) to 5 seconds. A naive
``dateTime`` is read as UTC (n8n uses the server's time, never the workflow's time zone). Forms
(``resume: form``) are not served yet: such a wait resumes by a call to the resume URL like a
webhook wait.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.errors import CredentialUnavailable, NodeError, ParameterInvalid
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec

Unit = Literal["seconds", "minutes", "hours", "days"]
UNIT_S: dict[str, float] = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# how a resume call authenticates → the credential it reads (the Webhook node's options, checked
# by the server with the Webhook node's code: api/webhook_auth.py, whose CREDENTIAL_OF this matches)
CREDENTIAL_OF = {
    "basicAuth": "httpBasicAuth",
    "headerAuth": "httpHeaderAuth",
    "signature": "webhookSignature",
}


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resume: Literal["timeInterval", "specificTime", "webhook", "form"] = "timeInterval"
    amount: float = Field(default=5, ge=0)
    unit: Unit = "seconds"
    # ISO 8601 text (or a date the expression engine produced)
    dateTime: str | datetime | None = None
    # --- resume by webhook / form (read by the server) ---
    httpMethod: Literal["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"] = "GET"
    responseMode: Literal["onReceived", "lastNode", "responseNode"] = "onReceived"
    responseCode: int = 200
    responseData: str = "firstEntryJson"
    responsePropertyName: str = "data"
    responseBinaryPropertyName: str = "data"
    # n8n's name; ``authentication`` (the Webhook node's) is accepted too. jwtAuth is refused
    incomingAuthentication: Literal["none", "basicAuth", "headerAuth", "signature", "jwtAuth"] = Field(
        default="none", validation_alias=AliasChoices("incomingAuthentication", "authentication")
    )
    limitWaitTime: bool = False
    limitType: Literal["afterTimeInterval", "atSpecifiedTime"] = "afterTimeInterval"
    resumeAmount: float = Field(default=1, ge=0)
    resumeUnit: Unit = "hours"
    maxDateAndTime: str | datetime | None = None
    formTitle: str = ""
    formDescription: str = ""
    formFields: dict[str, Any] = {}
    options: dict[str, Any] = {}


def _parse_moment(value: str | datetime, node: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ParameterInvalid(
                f"'dateTime' {value!r} is not a date and time (use ISO 8601, e.g. 2024-05-01T12:00:00Z)",
                node=node,
                field="parameters.dateTime",
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _until(ctx: NodeContext, params: Params) -> datetime | None:
    """When the wait ends by time (None: only a call ends it)."""
    now: datetime = ctx.clock.now()
    if params.resume == "timeInterval":
        return now + timedelta(seconds=params.amount * UNIT_S[params.unit])
    if params.resume == "specificTime":
        when = params.dateTime
        if when is None or when == "":
            raise ParameterInvalid(
                "no date and time to wait until", node=ctx.node_name, field="parameters.dateTime"
            )
        return _parse_moment(when, ctx.node_name)
    if not params.limitWaitTime:
        return None
    if params.limitType == "afterTimeInterval":
        return now + timedelta(seconds=params.resumeAmount * UNIT_S[params.resumeUnit])
    if params.maxDateAndTime is None or params.maxDateAndTime == "":
        raise ParameterInvalid(
            "no date and time to limit the wait to", node=ctx.node_name, field="parameters.maxDateAndTime"
        )
    return _parse_moment(params.maxDateAndTime, ctx.node_name)


def _webhook(ctx: NodeContext, params: Params) -> dict[str, Any]:
    """What the resume URL accepts, who may call it and how it answers (read by the server)."""
    hook: dict[str, Any] = {
        "httpMethod": params.httpMethod,
        "responseMode": params.responseMode,
        "responseCode": params.responseCode,
        "responseData": params.responseData,
        "responseBinaryPropertyName": params.responseBinaryPropertyName,
        "options": {k: v for k, v in params.options.items() if k in WEBHOOK_OPTIONS},
    }
    _check_allow_list(ctx, hook["options"].get("ipWhitelist"))
    auth = params.incomingAuthentication
    if auth != "none":
        hook["authentication"] = auth
        hook["credential"] = _credential_ref(ctx, auth)
    return hook


def _credential_ref(ctx: NodeContext, auth: str) -> dict[str, Any]:
    """The node's credential ref for ``auth`` (id and name, no secret: the server resolves it at
    each call). A wait whose resume URL would be unprotected is refused before it parks."""
    type_ = CREDENTIAL_OF.get(auth)
    if type_ is None:
        raise ParameterInvalid(
            f"authentication {auth!r} is not supported for a resume call (use basicAuth, headerAuth "
            "or signature)",
            node=ctx.node_name,
            field="parameters.incomingAuthentication",
        )
    ref = (ctx.node.credentials or {}).get(type_)
    if not isinstance(ref, Mapping):
        raise CredentialUnavailable(
            f"node {ctx.node_name!r} uses authentication {auth!r} but has no {type_} credential selected",
            node=ctx.node_name,
        )
    return {"id": ref.get("id"), "name": ref.get("name")}


def _check_allow_list(ctx: NodeContext, text: Any) -> None:
    if text is None or text == "":
        return
    for entry in (e.strip() for e in str(text).split(",")):
        try:
            if entry:
                ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ParameterInvalid(
                f"ipWhitelist entry {entry!r} is not an IP address or CIDR",
                node=ctx.node_name,
                field="parameters.options.ipWhitelist",
            ) from None


# Webhook options that also mean something to a Wait's resume URL
WEBHOOK_OPTIONS = (
    "responseCode",
    "responseData",
    "responseHeaders",
    "noResponseBody",
    "rawBody",
    "ipWhitelist",
)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    resumed = ctx.take_resume()
    if resumed is not None:
        request = resumed.get("request")
        if request is not None:
            return [[request]]
        stored = resumed.get("until")
        until = _parse_moment(stored, ctx.node_name) if isinstance(stored, str) else None
    else:
        until = _until(ctx, params)
    by_call = params.resume in ("webhook", "form")
    now: datetime = ctx.clock.now()
    if until is not None and until <= now:
        return [passthrough(items)]
    if by_call:
        if not ctx.can_park:
            raise NodeError(
                f"resume by {params.resume} needs the server (relayflow start) and cannot be used in "
                "a sub-workflow that its parent waits for",
                node=ctx.node_name,
                retryable=False,
            )
        ctx.park(until, _webhook(ctx, params))
    assert until is not None
    seconds = (until - now).total_seconds()
    if ctx.can_park and seconds >= ctx.services.wait_park_after_s:
        ctx.park(until)
    await ctx.sleep(seconds)
    return [passthrough(items)]


def _from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    if version < 1.1:
        # Wait v1 waited 1 hour unless told otherwise
        return {"amount": 1, "unit": "hours", **raw}
    return raw


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.wait",
        version=1,
        title="Wait",
        group="flow",
        description="Pauses the execution for a time interval or until a given time, then passes "
        "the items on.",
        params=Params,
        execute=execute,
        # for a resume call's authentication (incomingAuthentication)
        credentials=(
            CredentialSlot("httpBasicAuth"),
            CredentialSlot("httpHeaderAuth"),
            CredentialSlot("webhookSignature"),
        ),
        aliases=(N8nAlias("n8n-nodes-base.wait", (1, 1.1), translate=_from_n8n),),
    ),
)
