"""Small flow nodes: No Operation, Sticky Note, Stop and Error."""

from __future__ import annotations

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.nodes.spec import EmptyParams, N8nAlias, NodeSpec


async def _pass(ctx: NodeContext, items: Items, params: EmptyParams) -> NodeOutput:
    return [passthrough(items)]


NOOP = NodeSpec(
    type="relayflow.noOp",
    version=1,
    title="No Operation",
    group="flow",
    description="Passes its items through unchanged.",
    params=EmptyParams,
    execute=_pass,
    aliases=(N8nAlias("n8n-nodes-base.noOp", (1,)),),
)

STICKY_NOTE = NodeSpec(
    type="relayflow.stickyNote",
    version=1,
    title="Sticky Note",
    group="core",
    description="A note on the canvas; ignored at run time.",
    params=EmptyParams,
    execute=_pass,
    inputs=(),
    outputs=(),
    ignored=True,
    aliases=(N8nAlias("n8n-nodes-base.stickyNote", (1,)),),
)

SPECS: tuple[NodeSpec, ...] = (NOOP, STICKY_NOTE)
