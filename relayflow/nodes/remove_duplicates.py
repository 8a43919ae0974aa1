"""Remove Duplicates: drop repeated items within the input, or items seen by earlier executions
(n8n ``removeDuplicates``). History of earlier executions lives in the workflow's static data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import MISSING, field_list, get_path, omit, pick
from relayflow.nodes.spec import N8nAlias, NodeSpec

Logic = Literal[
    "removeItemsWithAlreadySeenKeyValues", "removeItemsUpToStoredIncrementalKey", "removeItemsUpToStoredDate"
]
HISTORY_KEY = "relayflow.removeDuplicates"


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Literal[
        "removeDuplicateInputItems", "removeItemsSeenInPreviousExecutions", "clearDeduplicationHistory"
    ] = "removeDuplicateInputItems"
    compare: Literal["allFields", "allFieldsExcept", "selectedFields"] = "allFields"
    fields_to_exclude: str | list[str] = ""
    fields_to_compare: str | list[str] = ""
    disable_dot_notation: bool = False
    remove_other_fields: bool = False
    # removeItemsSeenInPreviousExecutions (evaluated per item)
    logic: Logic = "removeItemsWithAlreadySeenKeyValues"
    dedupe_value: Any = None
    scope: Literal["node", "workflow"] = "node"
    history_size: int = Field(default=10000, ge=1)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


def dedupe_items(items: Items, p: Params, node: str = "") -> Items:
    """Keep the first of each group of equal items (shared with Item Lists)."""
    dot = not p.disable_dot_notation
    fields: list[str] = []
    if p.compare == "selectedFields":
        fields = field_list(p.fields_to_compare)
        if not fields:
            raise NodeError("no fields to compare are set", node=node, retryable=False)
        for i, it in enumerate(items):
            for f in fields:
                if get_path(it["json"], f, dot) is MISSING:
                    raise NodeError(
                        f"the field {f!r} is missing from some input items",
                        node=node,
                        item_index=i,
                        retryable=False,
                    )
    excluded = field_list(p.fields_to_exclude) if p.compare == "allFieldsExcept" else []
    seen: set[bytes] = set()
    out: Items = []
    for i, it in enumerate(items):
        json = it["json"]
        compared: Any = [get_path(json, f, dot) for f in fields] if fields else omit(json, excluded, dot)
        key = _canonical(compared)
        if key in seen:
            continue
        seen.add(key)
        if p.remove_other_fields and p.compare != "allFields":
            new_json = pick(json, fields, dot) if fields else omit(json, excluded, dot)
            out.append({"json": new_json, "pairedItem": {"item": i}})
        else:
            out.append({**it, "pairedItem": {"item": i}})
    return out


# --- history of earlier executions -------------------------------------------------------------
def _history(ctx: NodeContext, scope: str) -> tuple[dict[str, Any], str]:
    root = ctx.static_data.setdefault(HISTORY_KEY, {})
    return root, "workflow" if scope == "workflow" else f"node:{ctx.node_name}"


def _as_number(value: Any, i: int, node: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise NodeError(
            f"the value to dedupe on ({value!r}) is not a number", node=node, item_index=i, retryable=False
        ) from None


def _as_date(value: Any, i: int, node: str) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise NodeError(
            f"the value to dedupe on ({value!r}) is not an ISO date", node=node, item_index=i, retryable=False
        ) from None


async def _seen_before(ctx: NodeContext, items: Items, p: Params) -> Items:
    node = ctx.node_name
    root, key = _history(ctx, p.scope)
    state = root.get(key)
    if state is not None and state.get("logic") != p.logic:
        raise NodeError(
            "the deduplication history was created with another 'Keep Items Where' setting: "
            "clear it first (operation 'Clear Deduplication History')",
            node=node,
            retryable=False,
        )
    state = state or {"logic": p.logic}
    values = [ip.dedupe_value for ip in await ctx.item_params()]  # type: ignore[attr-defined]
    out: Items = []
    if p.logic == "removeItemsWithAlreadySeenKeyValues":
        seen: list[str] = list(state.get("values", []))
        known = set(seen)
        for i, (it, v) in enumerate(zip(items, values, strict=True)):
            k = _canonical(v).decode()
            if k not in known:
                known.add(k)
                seen.append(k)
                out.append({**it, "pairedItem": {"item": i}})
        state["values"] = seen[-p.history_size :]
    else:
        conv = _as_number if p.logic == "removeItemsUpToStoredIncrementalKey" else _as_date
        stored = state.get("max")
        top = stored
        for i, (it, v) in enumerate(zip(items, values, strict=True)):
            n = conv(v, i, node)
            if stored is None or n > stored:
                out.append({**it, "pairedItem": {"item": i}})
            top = n if top is None or n > top else top
        state["max"] = top
    root[key] = state
    return out


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    if params.operation == "removeItemsSeenInPreviousExecutions":
        return [await _seen_before(ctx, items, params)]
    if params.operation == "clearDeduplicationHistory":
        root, key = _history(ctx, params.scope)
        root.pop(key, None)
        return [passthrough(items)]
    return [dedupe_items(items, params, ctx.node_name)]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    logic = p.get("logic", "removeItemsWithAlreadySeenKeyValues")
    dedupe = {
        "removeItemsWithAlreadySeenKeyValues": p.get("dedupeValue"),
        "removeItemsUpToStoredIncrementalKey": p.get("incrementalDedupeValue"),
        "removeItemsUpToStoredDate": p.get("dateDedupeValue"),
    }.get(logic)
    out: dict[str, Any] = {
        "operation": p.get("operation", "removeDuplicateInputItems")
        if version >= 2
        else "removeDuplicateInputItems",
        "compare": p.get("compare", "allFields"),
        "fields_to_exclude": p.get("fieldsToExclude", ""),
        "fields_to_compare": p.get("fieldsToCompare", ""),
        "disable_dot_notation": options.get("disableDotNotation", False),
        "remove_other_fields": options.get("removeOtherFields", False),
        "logic": logic,
        "dedupe_value": dedupe,
        "scope": options.get("scope", "node"),
    }
    if "historySize" in options:
        out["history_size"] = options["historySize"]
    for key in ("fields_to_exclude", "fields_to_compare"):
        if isinstance(out[key], dict):
            out[key] = field_list(out[key])
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.removeDuplicates",
        version=1,
        title="Remove Duplicates",
        group="transform",
        description="Drop items that repeat earlier ones, in this input or in earlier executions.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.removeDuplicates", (1, 1.1, 2), translate=from_n8n),),
    ),
)
