"""Trigger nodes: Manual Trigger (and legacy Start), Execute Workflow Trigger, and the specs of
Webhook and Schedule Trigger (served by the server)."""

from __future__ import annotations

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.nodes.spec import EmptyParams, N8nAlias, NodeSpec


async def _emit_input(ctx: NodeContext, items: Items, params: EmptyParams) -> NodeOutput:
    """A trigger run by hand emits the run's input items (one empty item by default)."""
    return [passthrough(items) if items else [{"json": {}}]]


MANUAL_TRIGGER = NodeSpec(
    type="relayflow.manualTrigger",
    version=1,
    title="Manual Trigger",
    group="trigger",
    description="Starts the workflow when it is run by hand (CLI, API, editor).",
    params=EmptyParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.manualTrigger", (1,)),),
)

START = NodeSpec(
    type="relayflow.start",
    version=1,
    title="Start (legacy)",
    group="trigger",
    description="n8n's legacy Start node: behaves as a Manual Trigger.",
    params=EmptyParams,
    execute=_emit_input,
    inputs=(),
    trigger=True,
    aliases=(N8nAlias("n8n-nodes-base.start", (1,)),),
)

SPECS: tuple[NodeSpec, ...] = (MANUAL_TRIGGER, START)
