"""IF: routes each item to the "true" or the "false" output by its conditions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, forward
from relayflow.errors import RelayflowError
from relayflow.nodes.conditions import ConditionParams, translate_conditions
from relayflow.nodes.conditions.params import holds_for_item, value_columns
from relayflow.nodes.spec import N8nAlias, NodeSpec


class IfParams(ConditionParams):
    """Conditions evaluated per item (``leftValue``/``rightValue`` are usually expressions)."""


def _from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    return translate_conditions(params, version)


async def split_by_conditions(ctx: NodeContext, items: Items, params: ConditionParams) -> tuple[Items, Items]:
    """(items whose conditions hold, the others), each forwarded from its input item.

    An item whose conditions fail to evaluate (a strict type mismatch...) follows the node's
    ``onError``: it stops the workflow, goes to the error output, or counts as not matching.
    """
    columns = value_columns(params, await ctx.param_columns()) if ctx.params_dynamic else None
    per_item: Sequence[Any] = (
        [params] * len(items) if columns is not None or not ctx.params_dynamic else await ctx.item_params()
    )
    kept: Items = []
    dropped: Items = []
    for i, (it, p) in enumerate(zip(items, per_item, strict=True)):
        try:
            holds = holds_for_item(p, columns, i) if columns is not None else p.holds()
        except RelayflowError as exc:
            if ctx.fail_item(exc, i) is not None:
                dropped.append(forward(it, i))
            continue
        (kept if holds else dropped).append(forward(it, i))
    return kept, dropped


async def execute(ctx: NodeContext, items: Items, params: IfParams) -> NodeOutput:
    kept, dropped = await split_by_conditions(ctx, items, params)
    return [kept, dropped]


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.if",
        version=1,
        title="If",
        group="flow",
        description="Route items to the true or the false output depending on conditions.",
        params=IfParams,
        execute=execute,
        outputs=("true", "false"),
        aliases=(N8nAlias("n8n-nodes-base.if", (1, 2, 2.1, 2.2, 2.3), translate=_from_n8n),),
    ),
)
