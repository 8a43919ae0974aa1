"""Filter: keeps the items whose conditions hold and drops the others."""

from __future__ import annotations

from typing import Any

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes.conditions import ConditionParams, translate_conditions
from relayflow.nodes.if_node import split_by_conditions
from relayflow.nodes.spec import N8nAlias, NodeSpec


class FilterParams(ConditionParams):
    """Conditions evaluated per item; only the items that satisfy them are output."""


def _from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    return translate_conditions(params, version)


async def execute(ctx: NodeContext, items: Items, params: FilterParams) -> NodeOutput:
    kept, _dropped = await split_by_conditions(ctx, items, params)
    return [kept]


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.filter",
        version=1,
        title="Filter",
        group="transform",
        description="Keep only the items that meet conditions.",
        params=FilterParams,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.filter", (1, 2, 2.1, 2.2, 2.3), translate=_from_n8n),),
    ),
)
