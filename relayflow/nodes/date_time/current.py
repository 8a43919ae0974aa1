"""Date & Time (n8n ``dateTime`` v2): current date, add / subtract, format, round, difference, extract."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.date_time import values as dv
from relayflow.nodes.date_time.formats import format_datetime
from relayflow.nodes.fieldpath import set_path

Operation = Literal[
    "getCurrentDate",
    "addToDate",
    "subtractFromDate",
    "formatDate",
    "roundDate",
    "getTimeBetweenDates",
    "extractDate",
]
Unit = Literal["year", "quarter", "month", "week", "day", "hour", "minute", "second"]
DEFAULT_OUTPUT: dict[str, str] = {
    "getCurrentDate": "currentDate",
    "addToDate": "newDate",
    "subtractFromDate": "newDate",
    "formatDate": "formattedDate",
    "roundDate": "roundedDate",
    "getTimeBetweenDates": "timeDifference",
    "extractDate": "datePart",
}


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Operation = "getCurrentDate"
    # the date to work on (addToDate's "magnitude"); any ISO / RFC 2822 / epoch value
    date: Any = None
    end_date: Any = None
    include_time: bool = True
    time_unit: Literal[
        "years", "quarters", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds"
    ] = "days"
    duration: float = 0
    # formatDate: Luxon tokens ("yyyy-MM-dd", "X" for Unix seconds, "x" for milliseconds)
    format: str = "MM/dd/yyyy"
    mode: Literal["roundDown", "roundUp"] = "roundDown"
    round_to: Unit = "day"
    units: list[Literal["year", "month", "week", "day", "hour", "minute", "second", "millisecond"]] = ["day"]
    iso_string: bool = False
    part: Literal["year", "month", "week", "day", "hour", "minute", "second"] = "day"
    # where the result goes; the operation's n8n default when empty
    output_field_name: str = ""
    # the zone dates are read and written in; the workflow's timezone when empty
    timezone: str = ""
    include_input_fields: bool = False
    # Luxon tokens to read ``date`` with, when it is not ISO / RFC 2822 / an epoch
    from_format: str = ""


def _date(value: Any, tz: tzinfo, ctx: NodeContext, p: Params, what: str = "date") -> datetime:
    if value is None or value == "":
        raise ValueError(f"the {what} is empty")
    return dv.to_datetime(value, tz, ctx.clock.now(), p.from_format, "luxon")


def _extract(dt: datetime, part: str) -> int:
    if part == "week":
        return dt.isocalendar()[1]
    return int(getattr(dt, part))


def compute(ctx: NodeContext, p: Params, tz: tzinfo) -> Any:
    """The operation's result for one item; raises ValueError on bad input."""
    op = p.operation
    if op == "getCurrentDate":
        now = ctx.clock.now().astimezone(tz)
        return dv.iso(now if p.include_time else dv.start_of(now, "day"))
    dt = _date(p.date, tz, ctx, p, "start date" if op == "getTimeBetweenDates" else "date")
    if op in ("addToDate", "subtractFromDate"):
        sign = 1 if op == "addToDate" else -1
        return dv.iso(dv.add(dt, sign * p.duration, p.time_unit))
    if op == "formatDate":
        return format_datetime(dt, p.format, "luxon")
    if op == "roundDate":
        rounded = dv.start_of(dt, p.round_to) if p.mode == "roundDown" else dv.round_up(dt, p.round_to)
        return dv.iso(rounded)
    if op == "getTimeBetweenDates":
        end = _date(p.end_date, tz, ctx, p, "end date")
        result = dv.diff(dt, end, [f"{u}s" for u in p.units])
        return dv.iso_duration(result) if p.iso_string else result
    return _extract(dt, p.part)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item: Sequence[Any] = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    default_tz = ctx.workflow.settings.timezone or "UTC"
    zones: dict[str, tzinfo] = {}
    out: Items = []
    for i, (it, ip) in enumerate(zip(items, per_item, strict=True)):
        p = cast(Params, ip)
        try:
            name = p.timezone or default_tz
            tz = zones.get(name) or zones.setdefault(name, dv.zone(name))
            value = compute(ctx, p, tz)
        except ValueError as exc:
            failed = ctx.fail_item(NodeError(str(exc), node=ctx.node_name, item_index=i, retryable=False), i)
            if failed is not None:
                out.append(failed)
            continue
        out.append(_output(it, i, p, value))
    return [out]


def _output(it: Item, i: int, p: Params, value: Any) -> Item:
    json: dict[str, Any] = dict(it["json"]) if p.include_input_fields else {}
    set_path(json, p.output_field_name or DEFAULT_OUTPUT[p.operation], value)
    new: Item = {"json": json, "pairedItem": {"item": i}}
    if p.include_input_fields and "binary" in it:
        new["binary"] = it["binary"]
    return new


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    op = p.get("operation", "getCurrentDate")
    options = p.get("options") or {}
    fmt = p.get("format", "MM/dd/yyyy")
    tz = options.get("timezone", "")
    out: dict[str, Any] = {
        "operation": op,
        "include_time": p.get("includeTime", True),
        "time_unit": p.get("timeUnit", "days"),
        "duration": p.get("duration", 0),
        "format": p.get("customFormat", "") if fmt == "custom" else fmt,
        "mode": p.get("mode", "roundDown"),
        "round_to": p.get("to", "day") if p.get("mode") == "roundUp" else p.get("toNearest", "day"),
        "units": p.get("units", ["day"]),
        "iso_string": options.get("isoString", False),
        "part": p.get("part", "day"),
        "output_field_name": p.get("outputFieldName", ""),
        "timezone": tz if isinstance(tz, str) else "",
        "include_input_fields": options.get("includeInputFields", False),
        "from_format": options.get("fromFormat", ""),
    }
    if op in ("addToDate", "subtractFromDate"):
        out["date"] = p.get("magnitude")
    elif op == "getTimeBetweenDates":
        out["date"], out["end_date"] = p.get("startDate"), p.get("endDate")
    else:
        out["date"] = p.get("date")
    return out
