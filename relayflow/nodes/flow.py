"""Small flow nodes: No Operation, Sticky Note, Stop and Error."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, passthrough
from relayflow.errors import StopAndError
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


class StopParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    errorType: Literal["errorMessage", "errorObject"] = "errorMessage"
    errorMessage: str = ""
    # JSON text, or the object an expression produced
    errorObject: str | dict[str, Any] = ""


def _object_message(obj: str | dict[str, Any]) -> tuple[str, str | None]:
    """(message, description) of an ``errorObject``: its ``message`` field, else the JSON itself."""
    data: Any = obj
    if isinstance(obj, str):
        try:
            data = orjson.loads(obj) if obj.strip() else {}
        except orjson.JSONDecodeError:
            return obj, None
    if isinstance(data, dict):
        message = data.get("message") or data.get("description")
        description = data.get("description") if data.get("message") else None
        if message:
            return str(message), str(description) if description else None
    return orjson.dumps(data).decode(), None


async def _stop(ctx: NodeContext, items: Items, params: StopParams) -> NodeOutput:
    description = None
    if params.errorType == "errorObject":
        message, description = _object_message(params.errorObject)
    else:
        message = params.errorMessage
    raise StopAndError(
        message or "the workflow was stopped by a Stop and Error node",
        node=ctx.node_name,
        retryable=False,
        description=description,
    )


STOP_AND_ERROR = NodeSpec(
    type="relayflow.stopAndError",
    version=1,
    title="Stop and Error",
    group="flow",
    description="Fails the execution on purpose with a message (or an error object).",
    params=StopParams,
    execute=_stop,
    outputs=(),
    aliases=(N8nAlias("n8n-nodes-base.stopAndError", (1,)),),
)

SPECS: tuple[NodeSpec, ...] = (NOOP, STICKY_NOTE, STOP_AND_ERROR)
