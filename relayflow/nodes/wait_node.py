"""Wait: pause the execution, then pass the items on.

In process, a time interval or a specific time sleeps through ``ctx.sleep`` (instant under the
fake clock of tests). Resuming by webhook or form needs the server and fails clearly for now.
n8n's Wait v1 defaults to 1 hour; v1.1 (and ours) to 5 seconds. A naive ``dateTime`` is read as
UTC (n8n uses the server's time, never the workflow's time zone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.errors import NodeError, ParameterInvalid
from relayflow.nodes.spec import N8nAlias, NodeSpec

Unit = Literal["seconds", "minutes", "hours", "days"]
UNIT_S: dict[str, float] = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


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
    incomingAuthentication: Literal["none", "basicAuth", "headerAuth", "jwtAuth"] = "none"
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


def _seconds(ctx: NodeContext, params: Params) -> float:
    if params.resume == "timeInterval":
        return params.amount * UNIT_S[params.unit]
    when = params.dateTime
    if when is None or when == "":
        raise ParameterInvalid(
            "no date and time to wait until", node=ctx.node_name, field="parameters.dateTime"
        )
    until = _parse_moment(when, ctx.node_name)
    now: datetime = ctx.clock.now()
    return max(0.0, (until - now).total_seconds())


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    if params.resume in ("webhook", "form"):
        raise NodeError(
            f"resume by {params.resume} needs the server (relayflow start)",
            node=ctx.node_name,
            retryable=False,
        )
    await ctx.sleep(_seconds(ctx, params))
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
        aliases=(N8nAlias("n8n-nodes-base.wait", (1, 1.1), translate=_from_n8n),),
    ),
)
