"""Trigger nodes: Manual Trigger (and legacy Start), Execute Workflow Trigger, and the specs of
Webhook, Respond to Webhook, Schedule Trigger and Cron (served by the server).

Run by hand, a trigger emits the run's input items (one empty item by default); Respond to
Webhook passes its items through. The parameter models are what the server reads, so they follow
the shapes of real n8n exports exactly; their ``options`` keep keys they do not know (n8n adds
options release after release) but type the ones they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.errors import ParameterInvalid
from relayflow.nodes.spec import CredentialSlot, EmptyParams, N8nAlias, NodeSpec


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


async def _emit_input(ctx: NodeContext, items: Items, params: Any) -> NodeOutput:
    """A trigger run by hand emits the run's input items (one empty item by default).

    The items enter the execution here, so they are emitted as they are: no copy, no pairing.
    """
    return [list(items) if items else [{"json": {}}]]


MANUAL_TRIGGER = NodeSpec(
    type="relayflow.manualTrigger",
    version=1,
    title="Manual Trigger",
    group="trigger",
    description="Starts the workflow when it is run by hand (CLI, API, editor).",
    params=EmptyParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.manualTrigger", (1,)),),
)

START = NodeSpec(
    type="relayflow.start",
    version=1,
    title="Start (legacy)",
    group="trigger",
    description="n8n's legacy Start node: behaves as a Manual Trigger.",
    params=EmptyParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.start", (1,)),),
)


# --- Execute Workflow Trigger ---------------------------------------------------------------------
class WorkflowInput(_Model):
    name: str
    type: Literal["any", "string", "number", "boolean", "array", "object"] = "any"


class WorkflowInputList(_Model):
    values: list[WorkflowInput] = []


class SubWorkflowParams(_Model):
    # "workflowInputs": keep the declared fields only (absent ones are null); "jsonExample": the keys
    # of the example; "passthrough": everything. No declared field means passthrough.
    inputSource: Literal["workflowInputs", "jsonExample", "passthrough"] = "passthrough"
    workflowInputs: WorkflowInputList = WorkflowInputList()
    jsonExample: str | dict[str, Any] = ""


def _declared_fields(params: SubWorkflowParams) -> list[str]:
    if params.inputSource == "workflowInputs":
        return [v.name for v in params.workflowInputs.values]
    if params.inputSource == "jsonExample":
        example: Any = params.jsonExample
        if isinstance(example, str):
            try:
                example = orjson.loads(example) if example.strip() else {}
            except orjson.JSONDecodeError:
                example = {}
        return list(example) if isinstance(example, dict) else []
    return []


async def _sub_workflow_start(ctx: NodeContext, items: Items, params: SubWorkflowParams) -> NodeOutput:
    items = items or [{"json": {}}]
    fields = _declared_fields(params)
    if not fields:
        return [passthrough(items)]
    return [
        [
            {"json": {f: it.get("json", {}).get(f) for f in fields}, "pairedItem": {"item": i}}
            for i, it in enumerate(items)
        ]
    ]


def _sub_workflow_from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    # v1.1 defaults to "define using fields below"; v1 had no setting and passed everything
    return {"inputSource": "workflowInputs", **raw} if version >= 1.1 else raw


EXECUTE_WORKFLOW_TRIGGER = NodeSpec(
    type="relayflow.executeWorkflowTrigger",
    version=1,
    title="Execute Workflow Trigger",
    group="trigger",
    description="Starts a sub-workflow with the items the calling Execute Workflow node sends.",
    params=SubWorkflowParams,
    execute=_sub_workflow_start,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.executeWorkflowTrigger", (1, 1.1), translate=_sub_workflow_from_n8n),),
)


# --- Webhook ---------------------------------------------------------------------------------------
HttpMethod = Literal["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]


class Header(_Model):
    name: str = ""
    value: str = ""

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return v if isinstance(v, str) or v is None else str(v)


class HeaderList(_Model):
    entries: list[Header] = []


class WebhookOptions(_Options):
    allowedOrigins: str = "*"
    binaryData: bool = False
    binaryPropertyName: str = "data"
    ignoreBots: bool = False
    ipWhitelist: str = ""
    noResponseBody: bool = False
    rawBody: bool = False
    responseContentType: str = ""
    responseData: str = ""
    responseHeaders: HeaderList = HeaderList()
    responsePropertyName: str = "data"
    # 2.x writes {"values": {"responseCode": n, "customCode": n}}
    responseCode: int | dict[str, Any] | None = None


class WebhookParams(_Model):
    multipleMethods: bool = False
    httpMethod: HttpMethod | list[HttpMethod] = "GET"
    # the URL path after /webhook/ (n8n uses the node's webhookId when empty)
    path: str = ""
    # n8n's basicAuth / headerAuth (credentials httpBasicAuth / httpHeaderAuth); "signature"
    # (ours: Standard Webhooks, credential webhookSignature); jwtAuth is refused at activation
    authentication: Literal["none", "basicAuth", "headerAuth", "signature", "jwtAuth"] = "none"
    responseMode: Literal["onReceived", "lastNode", "responseNode", "streaming"] = "onReceived"
    responseCode: int = Field(default=200, ge=100, le=599)
    responseData: Literal["allEntries", "firstEntryJson", "firstEntryBinary", "noData"] = "firstEntryJson"
    responseBinaryPropertyName: str = "data"
    options: WebhookOptions = WebhookOptions()

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if any(c.isspace() for c in v):
            raise ValueError("a webhook path cannot contain spaces")
        return v.strip("/")

    def methods(self) -> list[str]:
        return list(self.httpMethod) if isinstance(self.httpMethod, list) else [self.httpMethod]


def _webhook_from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    out = dict(raw)
    # the editor keeps "httpMethod" as a list only while "multipleMethods" is on
    if isinstance(out.get("httpMethod"), list) and not out.get("multipleMethods", False):
        out["multipleMethods"] = True
    return out


WEBHOOK = NodeSpec(
    type="relayflow.webhook",
    version=1,
    title="Webhook",
    group="trigger",
    description="Starts the workflow when an HTTP request arrives at /webhook/<path> (served by "
    "'relayflow start'); run by hand it emits the run's input items.",
    params=WebhookParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    credentials=(
        CredentialSlot("httpBasicAuth"),
        CredentialSlot("httpHeaderAuth"),
        CredentialSlot("webhookSignature"),
    ),
    aliases=(N8nAlias("n8n-nodes-base.webhook", (1, 1.1, 2, 2.1), translate=_webhook_from_n8n),),
)


# --- Respond to Webhook ----------------------------------------------------------------------------
class RespondOptions(_Options):
    responseCode: int = Field(default=200, ge=100, le=599)
    responseHeaders: HeaderList = HeaderList()
    # put the response in this field (allIncomingItems / firstIncomingItem)
    responseKey: str = ""
    enableResponseOutput: bool = False


class RespondParams(_Model):
    respondWith: Literal[
        "allIncomingItems", "firstIncomingItem", "json", "jwt", "noData", "redirect", "text", "binary"
    ] = "firstIncomingItem"
    # JSON text, or the value an expression produced
    responseBody: Any = ""
    redirectURL: str = ""
    responseDataSource: Literal["automatically", "set"] = "automatically"
    inputFieldName: str = "data"
    payload: Any = None
    options: RespondOptions = RespondOptions()


def _respond_outputs(params: Any) -> tuple[str, ...]:
    if isinstance(params, RespondParams) and params.options.enableResponseOutput:
        return ("main", "response")
    return ("main",)


@dataclass(frozen=True)
class WebhookAnswer:
    """What Respond to Webhook tells the server to answer: ``body`` is JSON-able, str for text, or
    a binary entry (``relayflow.engine.binary``) for binary."""

    status: int
    headers: dict[str, str]
    body: Any
    kind: Literal["json", "text", "empty", "binary"]


def _json_body(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value) if value.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ParameterInvalid(f"responseBody is not valid JSON: {exc}") from exc


def _keyed(params: RespondParams, value: Any) -> Any:
    return {params.options.responseKey: value} if params.options.responseKey else value


def _binary_entry(items: Items, params: RespondParams) -> dict[str, Any]:
    """The first item's binary entry to answer with: ``inputFieldName`` when the source is
    "set", else the first (only) binary property, as n8n does."""
    binary = items[0].get("binary") if items else None
    if not isinstance(binary, dict) or not binary:
        raise ParameterInvalid("respondWith binary: the first incoming item has no binary data")
    if params.responseDataSource == "set":
        entry = binary.get(params.inputFieldName)
        if not isinstance(entry, dict):
            have = ", ".join(sorted(binary))
            raise ParameterInvalid(
                f"respondWith binary: the first incoming item has no binary property "
                f"{params.inputFieldName!r} (it has: {have})"
            )
        return entry
    entry = next(iter(binary.values()))
    if not isinstance(entry, dict):
        raise ParameterInvalid("respondWith binary: the item's binary data is not an object")
    return entry


def webhook_answer(items: Items, params: RespondParams) -> WebhookAnswer:
    """The HTTP answer ``params`` describe for ``items`` (n8n's Respond to Webhook semantics)."""
    opts = params.options
    headers = {h.name: h.value for h in opts.responseHeaders.entries if h.name}
    how = params.respondWith
    if how == "json":
        return WebhookAnswer(opts.responseCode, headers, _json_body(params.responseBody), "json")
    if how == "text":
        return WebhookAnswer(opts.responseCode, headers, str(params.responseBody or ""), "text")
    if how == "allIncomingItems":
        body = _keyed(params, [it.get("json", {}) for it in items])
        return WebhookAnswer(opts.responseCode, headers, body, "json")
    if how == "firstIncomingItem":
        body = _keyed(params, items[0].get("json", {}) if items else {})
        return WebhookAnswer(opts.responseCode, headers, body, "json")
    if how == "redirect":
        code = opts.responseCode if 300 <= opts.responseCode < 400 else 307
        return WebhookAnswer(code, {**headers, "Location": params.redirectURL}, None, "empty")
    if how == "noData":
        return WebhookAnswer(opts.responseCode, headers, None, "empty")
    if how == "binary":
        return WebhookAnswer(opts.responseCode, headers, _binary_entry(items, params), "binary")
    raise ParameterInvalid(f"respondWith {how!r} is not supported yet")


async def _respond(ctx: NodeContext, items: Items, params: RespondParams) -> NodeOutput:
    """Fill the response slot of the webhook request that started this execution, if any; pass
    the items through. The first Respond to Webhook node that runs decides the answer."""
    slots = getattr(ctx.services, "webhook_responses", None)
    slot = slots.get(ctx.execution_id) if slots is not None else None
    if slot is not None and not slot.done():
        slot.set_result(webhook_answer(items, params))
    out: NodeOutput = [passthrough(items)]
    if params.options.enableResponseOutput:
        out.append([])
    return out


RESPOND_TO_WEBHOOK = NodeSpec(
    type="relayflow.respondToWebhook",
    version=1,
    title="Respond to Webhook",
    group="flow",
    description="Sets the HTTP response of the webhook that started the workflow (with "
    "responseMode 'responseNode'); passes its items through.",
    params=RespondParams,
    execute=_respond,
    outputs=_respond_outputs,
    aliases=(N8nAlias("n8n-nodes-base.respondToWebhook", (1, 1.1, 1.2, 1.3, 1.4, 1.5)),),
)


# --- Schedule Trigger and Cron ---------------------------------------------------------------------
class ScheduleRule(_Model):
    field: Literal["seconds", "minutes", "hours", "days", "weeks", "months", "cronExpression"] = "days"
    secondsInterval: int = Field(default=30, ge=1)
    minutesInterval: int = Field(default=5, ge=1)
    hoursInterval: int = Field(default=1, ge=1)
    daysInterval: int = Field(default=1, ge=1)
    weeksInterval: int = Field(default=1, ge=1)
    monthsInterval: int = Field(default=1, ge=1)
    # weekdays, 0 = Sunday
    triggerAtDay: list[int] = []
    triggerAtDayOfMonth: int = Field(default=1, ge=1, le=31)
    triggerAtHour: int = Field(default=0, ge=0, le=23)
    triggerAtMinute: int = Field(default=0, ge=0, le=59)
    expression: str = ""


class ScheduleRules(_Model):
    interval: list[ScheduleRule] = [ScheduleRule()]


class ScheduleParams(_Model):
    rule: ScheduleRules = ScheduleRules()


SCHEDULE_TRIGGER = NodeSpec(
    type="relayflow.scheduleTrigger",
    version=1,
    title="Schedule Trigger",
    group="trigger",
    description="Starts the workflow on a schedule (intervals or cron expressions; run by "
    "'relayflow start'); run by hand it emits the run's input items.",
    params=ScheduleParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.scheduleTrigger", (1, 1.1, 1.2)),),
)


class CronTime(_Model):
    mode: Literal["everyMinute", "everyHour", "everyDay", "everyWeek", "everyMonth", "everyX", "custom"] = (
        "everyDay"
    )
    hour: int = Field(default=14, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    dayOfMonth: int = Field(default=1, ge=1, le=31)
    # "0" (Sunday) to "6"
    weekday: str | int = "1"
    value: int = Field(default=2, ge=1)
    unit: Literal["minutes", "hours"] = "hours"
    cronExpression: str = ""


class CronTimes(_Model):
    item: list[CronTime] = []


class CronParams(_Model):
    triggerTimes: CronTimes = CronTimes()


CRON = NodeSpec(
    type="relayflow.cron",
    version=1,
    title="Cron (legacy)",
    group="trigger",
    description="n8n's legacy Cron trigger: starts the workflow at the listed times.",
    params=CronParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.cron", (1,)),),
)

ERROR_TRIGGER = NodeSpec(
    type="relayflow.errorTrigger",
    version=1,
    title="Error Trigger",
    group="trigger",
    description="Starts this workflow when a workflow that names it in settings.errorWorkflow fails; "
    "emits {execution: {id, url, error, lastNodeExecuted, mode, retryOf}, workflow: {id, name}}.",
    params=EmptyParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.errorTrigger", (1,)),),
)

SPECS: tuple[NodeSpec, ...] = (
    MANUAL_TRIGGER,
    ERROR_TRIGGER,
    START,
    EXECUTE_WORKFLOW_TRIGGER,
    WEBHOOK,
    RESPOND_TO_WEBHOOK,
    SCHEDULE_TRIGGER,
    CRON,
)
