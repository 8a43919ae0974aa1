"""Date & Time, legacy (n8n ``dateTime`` v1): format with moment.js tokens, or add / subtract."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.nodes.date_time import values as dv
from relayflow.nodes.date_time.formats import format_datetime
from relayflow.nodes.itemwise import SKIP, write_each


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["format", "calculate"] = "format"
    value: Any = ""
    data_property_name: str = "data"
    # moment.js tokens ("YYYY-MM-DD", "X" Unix seconds, "x" milliseconds)
    to_format: str = "MM/DD/YYYY"
    from_format: str = ""
    from_timezone: str = ""
    to_timezone: str = ""
    operation: Literal["add", "subtract"] = "add"
    duration: float = 0
    time_unit: Literal[
        "quarters", "years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds"
    ] = "days"


def _read(value: Any, p: Params, tz: tzinfo, now: datetime) -> datetime:
    if isinstance(value, int) and not isinstance(value, bool) and not p.from_format:
        return datetime.fromtimestamp(value, UTC).astimezone(tz)  # moment.unix()
    return dv.to_datetime(value, tz, now, p.from_format, "moment")


def compute(p: Params, workflow_tz: str, now: datetime) -> str:
    if p.action == "calculate":
        dt = _read(p.value, p, dv.zone(workflow_tz), now)
        sign = 1 if p.operation == "add" else -1
        return dv.iso_utc(dv.add(dt, sign * p.duration, p.time_unit))
    dt = _read(p.value, p, dv.zone(p.from_timezone or workflow_tz), now)
    dt = dt.astimezone(dv.zone(p.to_timezone or workflow_tz))
    return format_datetime(dt, p.to_format, "moment")


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    workflow_tz = ctx.workflow.settings.timezone or "UTC"
    now = ctx.clock.now()

    def one(it: Item, p: Params) -> Any:
        if p.value is None or p.value == "":
            return SKIP  # n8n skips items without a value
        return compute(p, workflow_tz, now)

    return await write_each(ctx, items, params, one)


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    return {
        "action": p.get("action", "format"),
        "value": p.get("value", ""),
        "data_property_name": p.get("dataPropertyName", "data"),
        "to_format": p.get("toFormat", "MM/DD/YYYY"),
        "from_format": options.get("fromFormat", ""),
        "from_timezone": options.get("fromTimezone", ""),
        "to_timezone": options.get("toTimezone", ""),
        "operation": p.get("operation", "add"),
        "duration": p.get("duration", 0),
        "time_unit": p.get("timeUnit", "days"),
    }
