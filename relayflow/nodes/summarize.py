"""Summarize: pivot-table style aggregations, optionally split by fields (n8n ``summarize``).

Output keys follow n8n: ``sum_amount``, ``count_id``, ``unique_count_id``, ``appended_tag``,
``concatenated_name``, ``average_x``, ``min_x``, ``max_x``. Numeric aggregations use the values
that are numbers and ignore the rest, as n8n does.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import MISSING, field_list, getter
from relayflow.nodes.spec import N8nAlias, NodeSpec

Aggregation = Literal["append", "average", "concatenate", "count", "countUnique", "max", "min", "sum"]
PREFIX: dict[str, str] = {
    "append": "appended",
    "average": "average",
    "concatenate": "concatenated",
    "count": "count",
    "countUnique": "unique_count",
    "max": "max",
    "min": "min",
    "sum": "sum",
}
SEPARATORS = {"comma": ",", "commaSpace": ", ", "lineBreak": "\n", "space": " ", "none": ""}


class FieldSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    aggregation: Aggregation = "count"
    field: str
    include_empty: bool = False
    # append / concatenate: a literal separator ("," ", " "\n" ...) or one of SEPARATORS' names
    separator: str = ","


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: list[FieldSummary] = []
    split_by: str | list[str] = ""
    continue_if_field_not_found: bool = False
    disable_dot_notation: bool = False
    output_format: Literal["separateItems", "singleItem"] = "separateItems"
    skip_empty_split_fields: bool = False


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _js_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return "null" if v is None else str(v)


def _non_empty(values: list[Any], include_empty: bool) -> list[Any]:
    if include_empty:
        return [None if v is MISSING else v for v in values]
    return [v for v in values if v is not MISSING and v is not None and v != ""]


def _aggregate(f: FieldSummary, values: list[Any]) -> Any:
    kind = f.aggregation
    if kind in ("sum", "average", "min", "max"):
        nums = [v for v in values if _is_number(v)]
        if kind == "sum":
            return sum(nums)
        if not nums:
            return None
        return sum(nums) / len(nums) if kind == "average" else (min(nums) if kind == "min" else max(nums))
    present = [v for v in values if v is not MISSING and v is not None]
    if kind == "count":
        return len(present)
    if kind == "countUnique":
        return len({orjson.dumps(v, option=orjson.OPT_SORT_KEYS, default=str) for v in present})
    kept = _non_empty(values, f.include_empty)
    if kind == "append":
        return kept
    sep = SEPARATORS.get(f.separator, f.separator)
    return sep.join(_js_text(v) for v in kept)


def _check_fields(items: Items, paths: list[str], p: Params, node: str, what: str) -> None:
    if p.continue_if_field_not_found or not items:
        return
    dot = not p.disable_dot_notation
    for path in paths:
        get = getter(path, dot)
        if all(get(it["json"]) is MISSING for it in items):
            raise NodeError(
                f"the {what} {path!r} does not exist in any input item",
                node=node,
                retryable=False,
                description="turn on the option 'Continue if Field Not Found' to go on anyway",
            )


def _groups(items: Items, split: list[str], p: Params) -> dict[bytes, tuple[list[Any], list[int]]]:
    dot = not p.disable_dot_notation
    getters = [getter(s, dot) for s in split]
    groups: dict[bytes, tuple[list[Any], list[int]]] = {}
    for i, it in enumerate(items):
        values = [g(it["json"]) for g in getters]
        if p.skip_empty_split_fields and any(v is MISSING or v is None or v == "" for v in values):
            continue
        values = [None if v is MISSING else v for v in values]
        key = orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str)
        group = groups.get(key)
        if group is None:
            groups[key] = (values, [i])
        else:
            group[1].append(i)
    return groups


def _summary(items: Items, indexes: list[int], p: Params) -> dict[str, Any]:
    dot = not p.disable_dot_notation
    out: dict[str, Any] = {}
    for f in p.fields:
        get = getter(f.field, dot)
        out[f"{PREFIX[f.aggregation]}_{f.field}"] = _aggregate(f, [get(items[i]["json"]) for i in indexes])
    return out


def summarize(items: Items, p: Params, node: str = "") -> Items:
    """The Summarize transformation (shared with Item Lists)."""
    if not p.fields:
        raise NodeError("no fields to summarize are set", node=node, retryable=False)
    split = field_list(p.split_by)
    _check_fields(items, [f.field for f in p.fields], p, node, "field")
    _check_fields(items, split, p, node, "field to split by")
    if not split:
        every = list(range(len(items)))
        return [{"json": _summary(items, every, p), "pairedItem": [{"item": i} for i in every]}]
    rows: Items = []
    for values, indexes in _groups(items, split, p).values():
        json = {s: v for s, v in zip(split, values, strict=True)}
        json.update(_summary(items, indexes, p))
        rows.append({"json": json, "pairedItem": [{"item": i} for i in indexes]})
    if p.output_format == "separateItems":
        return rows
    return [_single_item(rows, split)]


def _single_item(rows: Items, split: list[str]) -> Item:
    """All groups in one item, nested by split value: ``{value1: {value2: {...row}}}``."""
    tree: dict[str, Any] = {}
    for row in rows:
        node = tree
        for s in split[:-1]:
            node = node.setdefault(_js_text(row["json"][s]), {})
        node[_js_text(row["json"][split[-1]])] = row["json"]
    paired = [p for row in rows for p in row["pairedItem"]]
    return {"json": tree, "pairedItem": paired}


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return [summarize(items, params, ctx.node_name)]


def fields_from_n8n(collection: Any) -> list[dict[str, Any]]:
    """n8n's ``fieldsToSummarize.values[]`` → our ``fields``."""
    entries = collection.get("values", []) if isinstance(collection, dict) else []
    out = []
    for e in entries or []:
        if not isinstance(e, dict):
            continue
        sep = e.get("separateBy", ",")
        out.append(
            {
                "aggregation": e.get("aggregation", "count"),
                "field": e.get("field", ""),
                "include_empty": e.get("includeEmpty", False),
                "separator": e.get("customSeparator", "") if sep == "other" else sep,
            }
        )
    return out


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    return {
        "fields": fields_from_n8n(p.get("fieldsToSummarize")),
        "split_by": p.get("fieldsToSplitBy", ""),
        "continue_if_field_not_found": options.get("continueIfFieldNotFound", False),
        "disable_dot_notation": options.get("disableDotNotation", False),
        "output_format": options.get("outputFormat", "separateItems"),
        "skip_empty_split_fields": options.get("skipEmptySplitFields", False),
    }


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.summarize",
        version=1,
        title="Summarize",
        group="transform",
        description="Sum, count, average... fields over all items, optionally grouped by other fields.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.summarize", (1, 1.1), translate=from_n8n),),
    ),
)
