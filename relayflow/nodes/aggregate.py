"""Aggregate: group many items, or some of their fields, into one item (n8n ``aggregate``).

On the S10 hot path: one pass per field over the input, no per-item validation or copying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import MISSING, column, field_list, omit, pick
from relayflow.nodes.spec import N8nAlias, NodeSpec

Warn = Callable[[str], None]


class FieldToAggregate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    # the output key; the input field's name when empty
    output_field: str = ""


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    aggregate: Literal["aggregateIndividualFields", "aggregateAllItemData"] = "aggregateIndividualFields"
    fields: list[FieldToAggregate] = []
    # aggregateAllItemData
    destination_field_name: str = "data"
    include: Literal["allFields", "specifiedFields", "allFieldsExcept"] = "allFields"
    fields_to_include: str | list[str] = ""
    fields_to_exclude: str | list[str] = ""
    # options
    disable_dot_notation: bool = False
    merge_lists: bool = False
    include_binaries: bool = False
    keep_only_unique_binaries: bool = False
    keep_missing: bool = False


def _values(items: Items, path: str, dot: bool, merge: bool, keep_missing: bool) -> list[Any]:
    raw = column(items, path, dot)
    if keep_missing:
        values = [None if v is MISSING else v for v in raw]
    else:
        values = [v for v in raw if v is not None and v is not MISSING]
    if not merge:
        return values
    merged: list[Any] = []
    for v in values:
        if isinstance(v, list):
            merged.extend(v)
        else:
            merged.append(v)
    return merged


def _individual(items: Items, p: Params, node: str, warn: Warn | None) -> dict[str, Any]:
    dot = not p.disable_dot_notation
    if not p.fields:
        raise NodeError("no fields to aggregate are set", node=node, retryable=False)
    out: dict[str, Any] = {}
    for f in p.fields:
        if not f.field:
            raise NodeError("a 'Field To Aggregate' is empty", node=node, retryable=False)
        key = f.output_field or f.field
        if key in out:
            raise NodeError(
                f"the output field {key!r} is used twice: turn on 'Rename Field' and give each "
                "aggregated field its own output name",
                node=node,
                retryable=False,
            )
        out[key] = _values(items, f.field, dot, p.merge_lists, p.keep_missing)
        if (
            warn is not None
            and not out[key]
            and all(v is MISSING for v in column(items[:1000], f.field, dot))
        ):
            warn(f"the field {f.field!r} wasn't found in any input item")
    return out


def _all_data(items: Items, p: Params) -> dict[str, Any]:
    dot = not p.disable_dot_notation
    if p.include == "specifiedFields":
        keep = field_list(p.fields_to_include)
        data = [pick(it["json"], keep, dot) for it in items]
    elif p.include == "allFieldsExcept":
        drop = field_list(p.fields_to_exclude)
        data = [omit(it["json"], drop, dot) for it in items]
    else:
        data = [it["json"] for it in items]
    return {p.destination_field_name or "data": data}


def _binaries(items: Items, unique: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seen: set[tuple[Any, ...]] = set()
    for it in items:
        for key, data in (it.get("binary") or {}).items():
            if unique:
                ident = (
                    (data.get("id"), data.get("data"), data.get("fileName"))
                    if isinstance(data, dict)
                    else (key,)
                )
                if ident in seen:
                    continue
                seen.add(ident)
            name, n = key, 0
            while name in out:
                n += 1
                name = f"{key}_{n}"
            out[name] = data
    return out


def aggregate(items: Items, p: Params, node: str = "", warn: Warn | None = None) -> Items:
    """The Aggregate transformation (shared with Item Lists): one item paired to every input.

    ``warn`` hears of fields found in no item (n8n shows a hint, not an error).
    """
    if not items:
        return []
    all_data = p.aggregate == "aggregateAllItemData"
    json = _all_data(items, p) if all_data else _individual(items, p, node, warn)
    new: Item = {"json": json, "pairedItem": [{"item": i} for i in range(len(items))]}
    if p.include_binaries:
        binary = _binaries(items, p.keep_only_unique_binaries)
        if binary:
            new["binary"] = binary
    return [new]


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return [aggregate(items, params, ctx.node_name, ctx.log.warning)]


def fields_from_n8n(collection: Any) -> list[dict[str, str]]:
    """n8n's ``fieldsToAggregate.fieldToAggregate[]`` → our ``fields``."""
    entries = collection.get("fieldToAggregate", []) if isinstance(collection, dict) else []
    out = []
    for e in entries or []:
        if not isinstance(e, dict):
            continue
        rename = e.get("renameField", False)
        out.append(
            {
                "field": e.get("fieldToAggregate", ""),
                "output_field": e.get("outputFieldName", "") if rename else "",
            }
        )
    return out


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    return {
        "aggregate": p.get("aggregate", "aggregateIndividualFields"),
        "fields": fields_from_n8n(p.get("fieldsToAggregate")),
        "destination_field_name": p.get("destinationFieldName", "data"),
        "include": p.get("include", "allFields"),
        "fields_to_include": field_list(p["fieldsToInclude"])
        if isinstance(p.get("fieldsToInclude"), dict)
        else p.get("fieldsToInclude", ""),
        "fields_to_exclude": field_list(p["fieldsToExclude"])
        if isinstance(p.get("fieldsToExclude"), dict)
        else p.get("fieldsToExclude", ""),
        "disable_dot_notation": options.get("disableDotNotation", False),
        "merge_lists": options.get("mergeLists", False),
        "include_binaries": options.get("includeBinaries", False),
        "keep_only_unique_binaries": options.get("keepOnlyUnique", False),
        "keep_missing": options.get("keepMissing", False),
    }


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.aggregate",
        version=1,
        title="Aggregate",
        group="transform",
        description="Combine a field from many items, or the items themselves, into one item's lists.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.aggregate", (1,), translate=from_n8n),),
    ),
)
