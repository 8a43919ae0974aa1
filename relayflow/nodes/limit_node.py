"""Limit: keep only the first or last N items (n8n ``limit``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes.spec import N8nAlias, NodeSpec


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_items: int = Field(default=1, ge=0)
    keep: Literal["firstItems", "lastItems"] = "firstItems"


def limit_items(items: Items, p: Params) -> Items:
    """The Limit transformation (shared with Item Lists)."""
    n = len(items)
    start = 0 if p.keep == "firstItems" else max(0, n - p.max_items)
    stop = min(n, p.max_items) if p.keep == "firstItems" else n
    return [{**items[i], "pairedItem": {"item": i}} for i in range(start, stop)]


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return [limit_items(items, params)]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    return {"max_items": p.get("maxItems", 1), "keep": p.get("keep", "firstItems")}


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.limit",
        version=1,
        title="Limit",
        group="transform",
        description="Keep only the first or the last N items.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.limit", (1,), translate=from_n8n),),
    ),
)
