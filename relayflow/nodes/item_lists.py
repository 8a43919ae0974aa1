"""Item Lists: n8n's legacy multi-operation list node (``itemLists`` v1-3.1).

Each operation is the matching standalone node's transformation; its parameters are that node's
``Params`` under the operation's key (``split_out``, ``aggregate``, ...).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes import aggregate as agg_node
from relayflow.nodes import limit_node, sort_node
from relayflow.nodes import remove_duplicates as dedupe_node
from relayflow.nodes import split_out as split_node
from relayflow.nodes import summarize as summarize_node
from relayflow.nodes.fieldpath import field_list
from relayflow.nodes.spec import N8nAlias, NodeSpec

Operation = Literal["splitOutItems", "aggregateItems", "removeDuplicates", "sort", "limit", "summarize"]
# operation -> the key of its parameters
SECTION: dict[str, str] = {
    "splitOutItems": "split_out",
    "aggregateItems": "aggregate",
    "removeDuplicates": "remove_duplicates",
    "sort": "sort",
    "limit": "limit",
    "summarize": "summarize",
}


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Operation = "splitOutItems"
    split_out: split_node.Params | None = None
    aggregate: agg_node.Params | None = None
    remove_duplicates: dedupe_node.Params | None = None
    sort: sort_node.Params | None = None
    limit: limit_node.Params = limit_node.Params()
    summarize: summarize_node.Params | None = None

    @model_validator(mode="after")
    def _operation_has_parameters(self) -> Params:
        if getattr(self, SECTION[self.operation]) is None:
            raise ValueError(
                f"operation {self.operation!r} needs its parameters under {SECTION[self.operation]!r}"
            )
        return self


def run_operation(items: Items, p: Params, node: str, ctx: NodeContext | None = None) -> Items:
    op = p.operation
    if op == "splitOutItems" and p.split_out is not None:
        return split_node.split_out(items, p.split_out, node, ctx.log.warning if ctx else None)
    if op == "aggregateItems" and p.aggregate is not None:
        return agg_node.aggregate(items, p.aggregate, node, ctx.log.warning if ctx else None)
    if op == "removeDuplicates" and p.remove_duplicates is not None:
        return dedupe_node.dedupe_items(items, p.remove_duplicates, node)
    if op == "sort" and p.sort is not None:
        return sort_node.sort_items(items, p.sort, node)
    if op == "summarize" and p.summarize is not None:
        return summarize_node.summarize(items, p.summarize, node)
    return limit_node.limit_items(items, p.limit)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return [run_operation(items, params, ctx.node_name, ctx)]


_FIELD_LISTS = ("fieldsToInclude", "fieldsToExclude", "fieldsToCompare", "fieldsToSplitBy")


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    op = p.get("operation", "splitOutItems")
    if op == "concatenateItems":  # v3 renamed "aggregateItems"
        op = "aggregateItems"
    # v1-2 hold field lists as {"fields": [{"fieldName": ...}]}; later versions as "a, b"
    flat = {k: field_list(v) if k in _FIELD_LISTS and isinstance(v, dict) else v for k, v in p.items()}
    translate = {
        "splitOutItems": split_node.from_n8n,
        "aggregateItems": agg_node.from_n8n,
        "removeDuplicates": dedupe_node.from_n8n,
        "sort": sort_node.from_n8n,
        "limit": limit_node.from_n8n,
        "summarize": summarize_node.from_n8n,
    }.get(op)
    if translate is None:
        return {"operation": op}  # fails validation with the operation named
    # the standalone nodes' first versions share Item Lists' shapes
    return {"operation": op, SECTION[op]: translate(flat, 1)}


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.itemLists",
        version=1,
        title="Item Lists",
        group="transform",
        description="Legacy list operations: split out, aggregate, dedupe, sort, limit, summarize.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.itemLists", (1, 2, 2.1, 2.2, 3, 3.1), translate=from_n8n),),
    ),
)
