"""Loop Over Items (n8n v3) and the legacy Split In Batches (v1, v2), run as real loops."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import WorkflowInvalid
from relayflow.expressions import default_expression_engine
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry
from relayflow.nodes.spec import EmptyParams, NodeSpec
from relayflow.nodes.split_in_batches import Params, execute_loop
from relayflow.testing import make_engine, run_workflow
from relayflow.workflow.parse import parse_workflow


async def _mark(ctx: NodeContext, items: Items, params: BaseModel) -> NodeOutput:
    """Body node: tags each item with the run index it was seen in."""
    return [[{"json": {**it["json"], "seenInRun": ctx.run_index}} for it in items]]


async def _shrink(ctx: NodeContext, items: Items, params: BaseModel) -> NodeOutput:
    """Body node: drops the first item."""
    return [[{"json": dict(it["json"])} for it in items[1:]]]


def _registry() -> Registry:
    extra = [
        NodeSpec(type="test.mark", version=1, title="Mark", group="transform", description="",
                 params=EmptyParams, execute=_mark),
        NodeSpec(type="test.shrink", version=1, title="Shrink", group="transform", description="",
                 params=EmptyParams, execute=_shrink),
    ]  # fmt: skip
    return Registry([*BUILTIN_SPECS, *extra])


def loop_workflow(loop: dict[str, Any], body_type: str = "test.mark") -> dict[str, Any]:
    """Trigger → Loop; Loop.loop → Body → Loop; Loop.done → Done."""
    return {
        "name": "loop",
        "nodes": [
            {"name": "Trigger", "type": "relayflow.manualTrigger", "position": [0, 0]},
            {"name": "Loop", "position": [200, 0], **loop},
            {"name": "Body", "type": body_type, "position": [400, 100]},
            {"name": "Done", "type": "relayflow.noOp", "position": [400, -100]},
        ],
        "connections": {
            "Trigger": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
            "Loop": {
                "main": [
                    [{"node": "Done", "type": "main", "index": 0}],
                    [{"node": "Body", "type": "main", "index": 0}],
                ]
            },
            "Body": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
        },
    }


async def run(wf: dict[str, Any], items: list[dict[str, Any]]) -> ExecutionRecord:
    reg = _registry()
    record = await run_workflow(
        parse_workflow(wf, registry=reg), input=items, engine=make_engine(registry=reg)
    )
    assert record.status.value == "succeeded", record.error
    return record


def outputs(record: ExecutionRecord, node: str, output: int) -> list[list[Any]]:
    """Per run of ``node``: the json of its items on ``output``."""
    return [[it["json"] for it in (r.output or [[]] * (output + 1))[output]] for r in record.runs_of(node)]


ITEMS = [{"n": i} for i in range(5)]


async def test_loop_hands_out_batches_and_emits_the_collected_results_on_done() -> None:
    record = await run(
        loop_workflow({"type": "relayflow.splitInBatches", "parameters": {"batchSize": 2}}), ITEMS
    )
    # one run per batch handed out, plus the run that finds nothing left
    assert [r.run_index for r in record.runs_of("Loop")] == [0, 1, 2, 3]
    assert outputs(record, "Loop", 1) == [[{"n": 0}, {"n": 1}], [{"n": 2}, {"n": 3}], [{"n": 4}], []]
    assert outputs(record, "Loop", 0) == [[], [], [], [{**it, "seenInRun": it["n"] // 2} for it in ITEMS]]
    # "done" carries what the body returned, in order, and only Done is terminal
    assert record.output_json() == [{**it, "seenInRun": it["n"] // 2} for it in ITEMS]


async def test_batch_size_larger_than_input_is_one_batch() -> None:
    record = await run(
        loop_workflow({"type": "relayflow.splitInBatches", "parameters": {"batchSize": 10}}), ITEMS
    )
    assert len(record.runs_of("Body")) == 1
    assert record.output_json() == [{**it, "seenInRun": 0} for it in ITEMS]


async def test_n8n_v3_defaults_to_batches_of_one() -> None:
    loop = {"type": "n8n-nodes-base.splitInBatches", "typeVersion": 3, "parameters": {"options": {}}}
    record = await run(loop_workflow(loop), ITEMS[:3])
    assert [len(b) for b in outputs(record, "Loop", 1)] == [1, 1, 1, 0]
    assert record.output_json() == [{"n": i, "seenInRun": i} for i in range(3)]


async def test_loop_output_items_are_new_dicts() -> None:
    items = [{"json": {"n": 1}}]
    record = await run(loop_workflow({"type": "relayflow.splitInBatches"}), items)
    emitted = record.runs_of("Loop")[0].output
    assert emitted is not None and emitted[1][0] is not items[0]
    assert items == [{"json": {"n": 1}}]


async def test_reset_restarts_with_each_runs_input() -> None:
    params = {"batchSize": 2, "options": {"reset": True}}
    record = await run(
        loop_workflow({"type": "relayflow.splitInBatches", "parameters": params}, "test.shrink"), ITEMS[:3]
    )
    # run 0 hands out n0, n1; the body returns n1 alone, and the reset loop starts over with it
    assert outputs(record, "Loop", 1) == [[{"n": 0}, {"n": 1}], [{"n": 1}]]
    without = await run(loop_workflow({"type": "relayflow.splitInBatches", "parameters": {"batchSize": 2}}, "test.shrink"), ITEMS[:3])  # fmt: skip
    assert outputs(without, "Loop", 1)[1] == [{"n": 2}]


class _Ctx:
    def __init__(self) -> None:
        self.state: dict[str, Any] = {}


async def test_a_finished_loop_starts_over_when_new_items_arrive() -> None:
    ctx: Any = _Ctx()
    p = Params(batchSize=1)
    assert await execute_loop(ctx, [{"json": {"a": 1}}], p) == [[], [{"json": {"a": 1}}]]
    assert await execute_loop(ctx, [{"json": {"a": 1, "x": True}}], p) == [
        [{"json": {"a": 1, "x": True}}],
        [],
    ]
    assert ctx.state == {}
    # the next items are a new loop, not results of the previous one
    assert await execute_loop(ctx, [{"json": {"b": 2}}, {"json": {"b": 3}}], p) == [[], [{"json": {"b": 2}}]]


async def test_batch_size_must_be_positive() -> None:
    with pytest.raises(WorkflowInvalid, match="batchSize"):
        await run_workflow(
            loop_workflow({"type": "relayflow.splitInBatches", "parameters": {"batchSize": 0}})
        )


def legacy_workflow(version: int, params: dict[str, Any]) -> dict[str, Any]:
    """Trigger → SplitInBatches (one output) → Body → SplitInBatches."""
    return {
        "name": "legacy loop",
        "nodes": [
            {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1},
            {"name": "SplitInBatches", "type": "n8n-nodes-base.splitInBatches", "typeVersion": version,
             "parameters": params, "position": [200, 0]},
            {"name": "Body", "type": "test.mark", "position": [400, 0]},
        ],
        "connections": {
            "Trigger": {"main": [[{"node": "SplitInBatches", "type": "main", "index": 0}]]},
            "SplitInBatches": {"main": [[{"node": "Body", "type": "main", "index": 0}]]},
            "Body": {"main": [[{"node": "SplitInBatches", "type": "main", "index": 0}]]},
        },
    }  # fmt: skip


@pytest.mark.parametrize("version", [1, 2])
async def test_legacy_split_in_batches_emits_batches_then_nothing(version: int) -> None:
    record = await run(legacy_workflow(version, {"batchSize": 2, "options": {}}), ITEMS)
    assert outputs(record, "SplitInBatches", 0) == [
        [{"n": 0}, {"n": 1}],
        [{"n": 2}, {"n": 3}],
        [{"n": 4}],
        [],
    ]
    assert len(record.runs_of("Body")) == 3


async def test_legacy_default_batch_size_is_ten() -> None:
    record = await run(legacy_workflow(1, {}), [{"n": i} for i in range(12)])
    assert [len(b) for b in outputs(record, "SplitInBatches", 0)] == [10, 2, 0]


@pytest.mark.skipif(default_expression_engine() is None, reason="the expression engine has not landed yet")
async def test_each_loop_pass_is_a_new_run_index_of_the_body() -> None:
    wf = loop_workflow({"type": "relayflow.splitInBatches", "parameters": {"batchSize": 1}})
    wf["nodes"][2] = {
        "name": "Body",
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "position": [400, 100],
        "parameters": {
            "assignments": {
                "assignments": [{"name": "loopRun", "value": "={{ $runIndex }}", "type": "number"}]
            },
            "includeOtherFields": True,
        },
    }
    record = await run(wf, ITEMS[:2])
    assert [it["loopRun"] for it in record.output_json()] == [0, 1]
