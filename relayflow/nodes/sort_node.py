"""Sort: order items by fields, or shuffle them (n8n ``sort``).

On the S10 hot path: values are read once per item and field, sorted with Python's stable sort
(one pass per field, least significant first), and only the final order is materialized.
"""

from __future__ import annotations

import random
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import MISSING, column
from relayflow.nodes.spec import N8nAlias, NodeSpec


class SortField(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    order: Literal["ascending", "descending"] = "ascending"


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["simple", "random", "code"] = "simple"
    fields: list[SortField] = []
    disable_dot_notation: bool = False
    # type "code": n8n's JavaScript comparator (not run here: use the Code node)
    code: str = ""


# Ranks keep mixed types comparable: numbers < strings < booleans < objects < null < missing.
def _ranked(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if value is None:
        return (4, 0)
    if value is MISSING:
        return (5, 0)
    return (3, orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str))


def _keys(items: Items, field: str, dot: bool) -> list[Any]:
    values = column(items, field, dot)
    # fast path: one plain type throughout compares natively
    kinds = {type(v) for v in values}
    if kinds <= {int, float} or kinds == {str}:
        return values
    return [_ranked(v) for v in values]


def sort_order(items: Items, fields: list[SortField], dot: bool, node: str = "") -> list[int]:
    """Indexes of ``items`` in sorted order (stable; the first field is the most significant)."""
    if not fields:
        raise NodeError("no fields to sort by are set", node=node, retryable=False)
    order = list(range(len(items)))
    for f in reversed(fields):
        if not f.field:
            raise NodeError("a sort field name is empty", node=node, retryable=False)
        keys = _keys(items, f.field, dot)
        order.sort(key=keys.__getitem__, reverse=f.order == "descending")
    return order


def sort_items(items: Items, p: Params, node: str = "") -> Items:
    """The Sort transformation (shared with Item Lists)."""
    if p.type == "code":
        raise NodeError(
            "sorting with custom JavaScript code is not supported by the Sort node here: "
            "sort in a Code node instead (items.sort(...))",
            node=node,
            retryable=False,
        )
    if p.type == "random":
        order = list(range(len(items)))
        random.shuffle(order)
    else:
        order = sort_order(items, p.fields, not p.disable_dot_notation, node)
    return [{**items[i], "pairedItem": {"item": i}} for i in order]


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return [sort_items(items, params, ctx.node_name)]


def fields_from_n8n(ui: Any) -> list[dict[str, str]]:
    """n8n's ``sortFieldsUi.sortField[]`` → our ``fields``."""
    entries = ui.get("sortField", []) if isinstance(ui, dict) else []
    return [
        {"field": e.get("fieldName", ""), "order": e.get("order", "ascending")}
        for e in entries or []
        if isinstance(e, dict)
    ]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    return {
        "type": p.get("type", "simple"),
        "fields": fields_from_n8n(p.get("sortFieldsUi")),
        "disable_dot_notation": options.get("disableDotNotation", False),
        "code": p.get("code", ""),
    }


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.sort",
        version=1,
        title="Sort",
        group="transform",
        description="Order items by one or more fields, or shuffle them.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.sort", (1,), translate=from_n8n),),
    ),
)
