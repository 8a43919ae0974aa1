"""Shared loop for nodes that compute one value per item and write it to a field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput, forward
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import set_path

# returned by ``compute`` to forward the item unchanged
SKIP: Any = object()


async def write_each(
    ctx: NodeContext,
    items: Items,
    params: Any,
    compute: Callable[[Item, Any], Any],
    errors: tuple[type[Exception], ...] = (ValueError,),
) -> NodeOutput:
    """For each item: ``compute(item, its params)`` and store it at ``params.data_property_name``.

    A failure of one of ``errors`` is handled per item by the node's ``onError``.
    """
    per_item: Sequence[Any] = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (it, p) in enumerate(zip(items, per_item, strict=True)):
        try:
            value = compute(it, p)
        except errors as exc:
            failed = ctx.fail_item(NodeError(str(exc), node=ctx.node_name, item_index=i, retryable=False), i)
            if failed is not None:
                out.append(failed)
            continue
        if value is SKIP:
            out.append(forward(it, i))
            continue
        json = dict(it["json"])
        set_path(json, p.data_property_name or "data", value)
        out.append({**it, "json": json, "pairedItem": {"item": i}})
    return [out]
