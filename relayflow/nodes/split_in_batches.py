"""Loop Over Items (Split In Batches): hand out the input in batches, one batch per run.

The node keeps its state in ``ctx.state`` (per execution, across this node's runs). The loop body
connects back to this node's input, so the engine runs it again with the body's result.

* ``relayflow.splitInBatches`` (n8n v3): outputs ``done`` (0) and ``loop`` (1). The first run stores
  the input and emits the first batch on ``loop``; each later run collects the items it received
  and emits the next batch; once no batch is left it emits everything collected on ``done`` and
  forgets its state, so new input starts a new loop.
* ``relayflow.splitInBatchesLegacy`` (n8n v1, v2): one output. Each run emits the next batch; when
  none is left it emits nothing (ending that branch). ``noItemsLeft`` and ``currentRunIndex`` are
  kept in the node's state (n8n's ``$node["…"].context``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.nodes.spec import N8nAlias, NodeSpec


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # start over with the items of this run (treat every run as a first run)
    reset: bool = False


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batchSize: int = Field(default=1, ge=1)
    options: Options = Options()


def _plain(it: Item) -> Item:
    """A new item without its ``pairedItem`` (the engine pairs it within the emitting run)."""
    return {k: v for k, v in it.items() if k != "pairedItem"}


def _start(state: dict[str, Any], items: Items) -> None:
    state.clear()
    state["items"] = [_plain(it) for it in items]
    state["processed"] = []
    state["currentRunIndex"] = 0


def _next_batch(state: dict[str, Any], size: int) -> Items:
    pending: Items = state["items"]
    batch, state["items"] = pending[:size], pending[size:]
    state["noItemsLeft"] = not state["items"]
    return batch


async def execute_loop(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    state = ctx.state
    if "items" not in state or params.options.reset:
        _start(state, items)
    else:
        state["currentRunIndex"] += 1
        state["processed"].extend(_plain(it) for it in items)
    batch = _next_batch(state, params.batchSize)
    if batch:
        return [[], batch]
    done: Items = state["processed"]
    state.clear()  # a finished loop starts over when new items arrive
    return [done, []]


async def execute_legacy(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    state = ctx.state
    if "items" not in state or params.options.reset:
        _start(state, items)
    else:
        state["currentRunIndex"] += 1
    return [_next_batch(state, params.batchSize)]


def _from_n8n_legacy(raw: dict[str, Any], version: float) -> dict[str, Any]:
    # n8n v1/v2 default to batches of 10
    return {"batchSize": 10, **raw}


LOOP = NodeSpec(
    type="relayflow.splitInBatches",
    version=1,
    title="Loop Over Items",
    group="flow",
    description="Emits the input in batches on 'loop' (one batch per run); when all are done, "
    "emits every item returned to it on 'done'.",
    params=Params,
    execute=execute_loop,
    outputs=("done", "loop"),
    aliases=(N8nAlias("n8n-nodes-base.splitInBatches", (3,)),),
)

LEGACY = NodeSpec(
    type="relayflow.splitInBatchesLegacy",
    version=1,
    title="Split In Batches (legacy)",
    group="flow",
    description="n8n's original Split In Batches: emits the next batch on each run and nothing "
    "once all batches were handed out.",
    params=Params,
    execute=execute_legacy,
    aliases=(N8nAlias("n8n-nodes-base.splitInBatches", (1, 2), translate=_from_n8n_legacy),),
)

SPECS: tuple[NodeSpec, ...] = (LOOP, LEGACY)
