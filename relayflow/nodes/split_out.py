"""Split Out: turn a list inside each item into one item per entry (n8n ``splitOut``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import MISSING, delete_path, field_list, get_path, set_path
from relayflow.nodes.spec import N8nAlias, NodeSpec

Include = Literal["noOtherFields", "allOtherFields", "selectedOtherFields"]


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # one field, or several separated by commas (split in parallel: entry i of each list)
    field_to_split_out: str
    include: Include = "noOtherFields"
    fields_to_include: str | list[str] = ""
    disable_dot_notation: bool = False
    # where each entry goes; one name per field to split out (comma separated)
    destination_field_name: str = ""
    include_binary: bool = False


def _entries(value: Any) -> list[Any]:
    """What splitting ``value`` yields: a list as is, an object's values, a scalar alone."""
    if value is MISSING:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _base(json: dict[str, Any], p: Params, fields: list[str], dot: bool) -> dict[str, Any]:
    if p.include == "allOtherFields":
        out = dict(json)
        for f in fields:
            delete_path(out, f, dot)
        return out
    if p.include == "selectedOtherFields":
        out = {}
        for f in field_list(p.fields_to_include):
            value = get_path(json, f, dot)
            if value is not MISSING:
                set_path(out, f, value, dot)
        return out
    return {}


def _put(out: dict[str, Any], entry: Any, field: str, destination: str, p: Params) -> dict[str, Any]:
    if not destination and p.include == "noOtherFields" and isinstance(entry, dict):
        return {**out, **entry}
    out[destination or field] = entry
    return out


def split_out(items: Items, p: Params, node: str = "", warn: Callable[[str], None] | None = None) -> Items:
    """The Split Out transformation (shared with Item Lists); ``warn`` hears of missing fields."""
    dot = not p.disable_dot_notation
    fields = field_list(p.field_to_split_out)
    if not fields:
        raise NodeError("'Fields To Split Out' is empty", node=node, retryable=False)
    destinations = field_list(p.destination_field_name)
    if destinations and len(destinations) != len(fields):
        raise NodeError(
            f"{len(fields)} fields to split out but {len(destinations)} destination field names: "
            "give one destination per field",
            node=node,
            retryable=False,
        )
    found = dict.fromkeys(fields, False)
    out: Items = []
    for i, it in enumerate(items):
        json = it.get("json") or {}
        lists = []
        for f in fields:
            value = get_path(json, f, dot)
            found[f] = found[f] or value is not MISSING
            lists.append(_entries(value))
        base = _base(json, p, fields, dot)
        for row in range(max((len(v) for v in lists), default=0)):
            new = dict(base)
            for k, (f, entries) in enumerate(zip(fields, lists, strict=True)):
                if row < len(entries):
                    new = _put(new, entries[row], f, destinations[k] if destinations else "", p)
            new_item: Item = {"json": new, "pairedItem": {"item": i}}
            if p.include_binary and it.get("binary"):
                new_item["binary"] = it["binary"]
            out.append(new_item)
    missing = [f for f, ok in found.items() if not ok]
    if items and missing and warn is not None:
        hint = " (dot notation is disabled)" if not dot and any("." in f for f in missing) else ""
        warn(f"the field {missing[0]!r} wasn't found in any input item{hint}")
    return out


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return [split_out(items, params, ctx.node_name, ctx.log.warning)]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    return {
        "field_to_split_out": p.get("fieldToSplitOut", ""),
        "include": p.get("include", "noOtherFields"),
        "fields_to_include": p.get("fieldsToInclude", ""),
        "disable_dot_notation": options.get("disableDotNotation", False),
        "destination_field_name": options.get("destinationFieldName", ""),
        "include_binary": options.get("includeBinary", False),
    }


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.splitOut",
        version=1,
        title="Split Out",
        group="transform",
        description="Turn a list inside each item into separate items.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.splitOut", (1, 1.1), translate=from_n8n),),
    ),
)
