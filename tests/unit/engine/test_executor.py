"""Engine behaviour: ordering, concurrency, inputs, loops, and the run record."""

from __future__ import annotations

import asyncio

import pytest

from relayflow.engine.run import ExecutionStatus, NodeRunStatus
from relayflow.testing import make_engine, run_workflow
from relayflow.workflow import parse_workflow
from tests.unit.engine.testnodes import STATE, registry, wf


def engine(**kw):  # type: ignore[no-untyped-def]
    return make_engine(registry=registry(), **kw)


def parse(d):  # type: ignore[no-untyped-def]
    return parse_workflow(d, registry=registry())


async def run(d, **kw):  # type: ignore[no-untyped-def]
    eng = kw.pop("engine", None) or engine()
    return await eng.run(parse(d), **kw)


async def test_linear_chain_passes_items_and_records_each_node() -> None:
    d = wf(
        [{"name": "A", "type": "test.record"}, {"name": "B", "type": "test.record"}], [("T", "A"), ("A", "B")]
    )
    rec = await run(d, input_items=[{"json": {"n": 1}}, {"json": {"n": 2}}])
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert rec.output_json() == [{"n": 1}, {"n": 2}]
    assert [r.node for r in rec.node_runs] == ["T", "A", "B"]
    b = rec.runs_of("B")[0]
    assert b.items_in == [2] and b.items_out == [2]
    assert b.source[0] is not None and b.source[0].node == "A"
    assert b.finished_at is not None and b.finished_at >= b.started_at


async def test_several_terminal_nodes_give_an_object_keyed_by_name() -> None:
    d = wf(
        [{"name": "A", "type": "test.record"}, {"name": "B", "type": "test.record"}], [("T", "A"), ("T", "B")]
    )
    rec = await run(d, input_items=[{"json": {"x": 1}}])
    assert rec.output_json() == {"A": [{"x": 1}], "B": [{"x": 1}]}


async def test_independent_branches_run_concurrently() -> None:
    nodes = [{"name": f"R{i}", "type": "test.rendezvous", "parameters": {"barrier": 3}} for i in range(3)]
    d = wf(nodes, [("T", f"R{i}") for i in range(3)])
    rec = await asyncio.wait_for(run(d), 5)
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert STATE["peak"][0] == 3


async def test_max_concurrency_bounds_parallel_nodes() -> None:
    nodes = [{"name": f"R{i}", "type": "test.rendezvous"} for i in range(6)]
    d = wf(nodes, [("T", f"R{i}") for i in range(6)], settings={"maxConcurrency": 2})
    rec = await run(d)
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert STATE["peak"][0] <= 2
    assert len(STATE["order"]) == 6


async def test_sequential_order_is_depth_first_by_position() -> None:
    nodes = [
        {"name": "Low", "type": "test.record", "position": [200, 300]},
        {"name": "High", "type": "test.record", "position": [200, 0]},
        {"name": "HighChild", "type": "test.record", "position": [400, 0]},
        {"name": "LowChild", "type": "test.record", "position": [400, 300]},
    ]
    edges = [("T", "Low"), ("T", "High"), ("High", "HighChild"), ("Low", "LowChild")]
    rec = await run(wf(nodes, edges, settings={"executionOrder": "sequential"}))
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert STATE["order"] == ["High", "HighChild", "Low", "LowChild"]


async def test_sequential_mode_never_overlaps_nodes() -> None:
    nodes = [{"name": f"R{i}", "type": "test.rendezvous"} for i in range(4)]
    rec = await run(wf(nodes, [("T", f"R{i}") for i in range(4)], settings={"executionOrder": "sequential"}))
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert STATE["peak"][0] == 1


async def test_multi_input_node_waits_for_both_inputs() -> None:
    nodes = [
        {"name": "A", "type": "test.emit", "parameters": {"items": [{"a": 1}]}},
        {"name": "B", "type": "test.record"},
        {"name": "B2", "type": "test.record"},
        {"name": "J", "type": "test.concat"},
    ]
    edges = [("T", "A"), ("T", "B"), ("B", "B2"), ("A", "J", 0, 0), ("B2", "J", 0, 1)]
    rec = await run(wf(nodes, edges), input_items=[{"json": {"b": 2}}])
    assert [r.node for r in rec.node_runs].count("J") == 1
    assert rec.output_json() == [{"a": 1}, {"b": 2}]
    j = rec.runs_of("J")[0]
    assert j.items_in == [1, 1]
    assert j.output is not None and j.output[0][1]["pairedItem"] == {"item": 0, "input": 1}


async def test_multi_input_node_runs_with_partial_data_when_nothing_else_can_run() -> None:
    nodes = [
        {"name": "A", "type": "test.emit", "parameters": {"items": [{"a": 1}]}},
        {"name": "Empty", "type": "test.emit", "parameters": {"items": []}},
        {"name": "J", "type": "test.concat"},
    ]
    edges = [("T", "A"), ("T", "Empty"), ("A", "J", 0, 0), ("Empty", "J", 0, 1)]
    rec = await run(wf(nodes, edges))
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert rec.runs_of("J")[0].items_in == [1, 0]
    assert rec.output_json() == [{"a": 1}]


async def test_node_with_no_items_does_not_run_downstream() -> None:
    nodes = [
        {"name": "Empty", "type": "test.emit", "parameters": {"items": []}},
        {"name": "After", "type": "test.record"},
    ]
    rec = await run(wf(nodes, [("T", "Empty"), ("Empty", "After")]))
    assert rec.runs_of("After") == []
    assert rec.output_json() == {}


async def test_loops_run_again_with_run_indexes() -> None:
    nodes = [
        {"name": "Loop", "type": "test.counter", "parameters": {"limit": 3}},
        {"name": "Body", "type": "test.record"},
        {"name": "Done", "type": "test.record"},
    ]
    edges = [("T", "Loop"), ("Loop", "Done", 0), ("Loop", "Body", 1), ("Body", "Loop")]
    rec = await run(wf(nodes, edges), input_items=[{"json": {"i": 1}}])
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert [r.run_index for r in rec.runs_of("Loop")] == [0, 1, 2]
    assert [r.run_index for r in rec.runs_of("Body")] == [0, 1]
    assert rec.output_json() == [{"i": 1}]


async def test_endless_loop_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    from relayflow.engine import executor

    monkeypatch.setattr(executor, "MAX_NODE_RUNS", 50)
    nodes = [
        {"name": "Loop", "type": "test.counter", "parameters": {"limit": 10**9}},
        {"name": "Body", "type": "test.record"},
    ]
    rec = await run(wf(nodes, [("T", "Loop"), ("Loop", "Body", 1), ("Body", "Loop")]))
    assert rec.status is ExecutionStatus.FAILED
    assert "endless loop" in rec.error["message"]


async def test_paired_items_resolve_through_the_chain() -> None:
    nodes = [
        {"name": "A", "type": "test.record"},
        {"name": "B", "type": "test.record"},
        {"name": "P", "type": "test.paired", "parameters": {"key": "T"}},
    ]
    rec = await run(
        wf(nodes, [("T", "A"), ("A", "B"), ("B", "P")]), input_items=[{"json": {"n": 1}}, {"json": {"n": 2}}]
    )
    assert rec.output_json() == [
        {"self": {"n": 1}, "origin": {"n": 1}},
        {"self": {"n": 2}, "origin": {"n": 2}},
    ]


async def test_events_arrive_in_order() -> None:
    eng = engine()
    d = wf([{"name": "A", "type": "test.record"}], [("T", "A")])
    rec = await eng.run(parse(d))
    names = eng.services.events.names()  # type: ignore[union-attr]
    assert names[0] == "execution.started" and names[-1] == "execution.finished"
    assert names.count("node.started") == 2 and names.count("node.finished") == 2
    assert rec.status is ExecutionStatus.SUCCEEDED


async def test_run_record_serializes() -> None:
    rec = await run(wf([{"name": "A", "type": "test.record"}], [("T", "A")]))
    d = rec.to_dict()
    assert d["status"] == "succeeded"
    assert [r["node"] for r in d["nodeRuns"]] == ["T", "A"]
    assert d["nodeRuns"][1]["output"][0][0]["json"] == {}
    assert rec.runs_of("A")[0].status is NodeRunStatus.SUCCEEDED


async def test_testing_helper_runs_builtin_workflows() -> None:
    d = wf([{"name": "A", "type": "relayflow.noOp"}], [("T", "A")])
    rec = await run_workflow(d, input=[{"k": "v"}])
    assert rec.output_json() == [{"k": "v"}]


async def test_expression_errors_name_node_parameter_and_item() -> None:
    d = wf(
        [
            {
                "name": "Cap",
                "type": "n8n-nodes-base.set",
                "typeVersion": 3.4,
                "parameters": {
                    "assignments": {
                        "assignments": [
                            {"id": "a", "name": "x", "value": "={{ $json.a.b.c }}", "type": "string"}
                        ]
                    }
                },
            }
        ],
        [("T", "Cap")],
    )
    rec = await run(d, input_items=[{"json": {"a": {"b": {"c": 1}}}}, {"json": {}}])
    assert rec.status is ExecutionStatus.FAILED
    err = rec.error
    assert err["code"] == "expression_error" and err["node"] == "Cap"
    assert err["itemIndex"] == 1 and "assignments" in err["parameter"]


async def test_parameter_that_fails_its_model_at_run_time() -> None:
    d = wf(
        [
            {
                "name": "Cap",
                "type": "n8n-nodes-base.limit",
                "typeVersion": 1,
                "parameters": {"maxItems": "={{ 'lots' }}"},
            }
        ],
        [("T", "Cap")],
    )
    rec = await run(d)
    assert rec.status is ExecutionStatus.FAILED
    assert rec.error["code"] == "parameter_invalid" and rec.error["node"] == "Cap"
    assert "max" in rec.error["field"].lower()
