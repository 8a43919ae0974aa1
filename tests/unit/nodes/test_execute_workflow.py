"""Execute Workflow and Execute Workflow Trigger: sub-workflows from JSON, files and ids."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from relayflow.engine.executor import Engine
from relayflow.engine.memory import MemoryRunStore
from relayflow.engine.run import ExecutionRecord
from relayflow.expressions import default_expression_engine
from relayflow.testing import make_engine, run_workflow
from tests.unit.nodes.test_http_request import JsonFieldExpressions


def child(
    *nodes: dict[str, Any], trigger: dict[str, Any] | None = None, wf_id: str | None = None
) -> dict[str, Any]:
    """Execute Workflow Trigger → nodes... (a chain)."""
    start = {
        "name": "Start",
        "type": "relayflow.executeWorkflowTrigger",
        "position": [0, 0],
        **(trigger or {}),
    }
    chain = [start, *({"position": [200 * (i + 1), 0], **n} for i, n in enumerate(nodes))]
    conns = {
        a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]} for a, b in pairwise(chain)
    }
    wf: dict[str, Any] = {"name": "child", "nodes": chain, "connections": conns}
    if wf_id is not None:
        wf["id"] = wf_id
    return wf


def parent(call: dict[str, Any]) -> dict[str, Any]:
    """Manual Trigger → Call (the Execute Workflow node under test)."""
    return {
        "name": "parent",
        "nodes": [
            {"name": "Trigger", "type": "relayflow.manualTrigger", "position": [0, 0]},
            {"name": "Call", "position": [200, 0], **call},
        ],
        "connections": {"Trigger": {"main": [[{"node": "Call", "type": "main", "index": 0}]]}},
    }


def inline(sub: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {
        "type": "relayflow.executeWorkflow",
        "parameters": {"source": "parameter", "workflowJson": sub, **params},
    }


ITEMS = [{"n": 1, "tag": "a"}, {"n": 2, "tag": "b"}]


async def run(wf: dict[str, Any], items: Any = ITEMS, engine: Engine | None = None) -> ExecutionRecord:
    return await run_workflow(wf, input=items, engine=engine or make_engine())


def child_records(engine: Engine) -> list[ExecutionRecord]:
    store = engine.services.store
    assert isinstance(store, MemoryRunStore)
    return [r for r in store.all() if r.mode == "integrated"]


async def test_once_runs_the_sub_workflow_with_all_items_and_returns_its_last_node_output() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    engine = make_engine()
    record = await run(parent(inline(sub)), engine=engine)
    assert record.status.value == "succeeded", record.error
    assert record.output_json() == ITEMS
    (sub_record,) = child_records(engine)
    assert sub_record.last_node == "Echo" and sub_record.runs_of("Start")[0].items_out == [2]


async def test_inline_json_text_is_accepted() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    record = await run(parent(inline(orjson.dumps(sub).decode())))  # type: ignore[arg-type]
    assert record.output_json() == ITEMS


async def test_each_runs_once_per_item_and_pairs_results_to_their_item() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    engine = make_engine()
    record = await run(parent(inline(sub, mode="each")), engine=engine)
    assert record.output_json() == ITEMS
    assert len(child_records(engine)) == 2
    out = record.runs_of("Call")[0].output
    assert out is not None and [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 1}]


async def test_output_is_the_last_executed_node_even_when_it_is_not_terminal_in_order() -> None:
    # Start → Filtered trigger fields (workflowInputs) → Echo: the output is Echo's, not Start's
    sub = child(
        {"name": "Echo", "type": "relayflow.noOp"},
        trigger={
            "parameters": {"inputSource": "workflowInputs", "workflowInputs": {"values": [{"name": "n"}]}}
        },
    )
    record = await run(parent(inline(sub)))
    assert record.output_json() == [{"n": 1}, {"n": 2}]


async def test_local_file_is_resolved_relative_to_the_main_workflow_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "echo.json").write_bytes(
        orjson.dumps(child({"name": "Echo", "type": "relayflow.noOp"}))
    )
    call = {
        "type": "relayflow.executeWorkflow",
        "parameters": {"source": "localFile", "workflowPath": "sub/echo.json"},
    }
    record = await run(parent(call), engine=make_engine(base_dir=tmp_path))
    assert record.status.value == "succeeded", record.error
    assert record.output_json() == ITEMS


async def test_database_source_finds_the_workflow_by_id_with_a_resource_locator(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_bytes(
        orjson.dumps(child({"name": "Other", "type": "relayflow.noOp"}, wf_id="x"))
    )
    sub = child({"name": "Echo", "type": "relayflow.noOp"}, wf_id="XtpJW0B4twnclvtk")
    (tmp_path / "sub.json").write_bytes(orjson.dumps(sub))
    call = {
        "type": "n8n-nodes-base.executeWorkflow",
        "typeVersion": 1.1,
        "parameters": {
            "source": "database",
            "workflowId": {"__rl": True, "mode": "id", "value": "XtpJW0B4twnclvtk"},
        },
    }
    engine = make_engine(base_dir=tmp_path)
    record = await run(parent(call), engine=engine)
    assert record.status.value == "succeeded", record.error
    assert [r.workflow_id for r in child_records(engine)] == ["XtpJW0B4twnclvtk"]


async def test_n8n_v1_workflow_id_string_defaults_to_the_database_source(tmp_path: Path) -> None:
    (tmp_path / "sub.json").write_bytes(
        orjson.dumps(child({"name": "Echo", "type": "relayflow.noOp"}, wf_id="94"))
    )
    call = {"type": "n8n-nodes-base.executeWorkflow", "typeVersion": 1, "parameters": {"workflowId": "94"}}
    record = await run(parent(call), engine=make_engine(base_dir=tmp_path))
    assert record.output_json() == ITEMS


async def test_unknown_id_fails_naming_the_id(tmp_path: Path) -> None:
    call = {"type": "n8n-nodes-base.executeWorkflow", "typeVersion": 1, "parameters": {"workflowId": "nope"}}
    record = await run(parent(call), engine=make_engine(base_dir=tmp_path))
    assert record.status.value == "failed"
    assert record.error is not None and record.error["node"] == "Call"
    assert "cannot load the sub-workflow" in record.error["message"] and "'nope'" in record.error["message"]


async def test_workflow_inputs_map_each_item_onto_the_sub_workflow_inputs() -> None:
    sub = child(
        {"name": "Echo", "type": "relayflow.noOp"},
        trigger={
            "type": "n8n-nodes-base.executeWorkflowTrigger",
            "typeVersion": 1.1,
            "parameters": {
                "workflowInputs": {"values": [{"name": "limit", "type": "number"}, {"name": "state"}]}
            },
        },
    )
    call = {
        "type": "n8n-nodes-base.executeWorkflow",
        "typeVersion": 1.2,
        "parameters": {
            "source": "parameter",
            "workflowJson": orjson.dumps(sub).decode(),
            "workflowInputs": {
                "mappingMode": "defineBelow",
                "value": {"limit": "5", "state": "open", "extra": 1},
                "schema": [{"id": "limit", "displayName": "limit", "type": "number"}],
                "attemptToConvertTypes": True,
            },
            "options": {},
        },
    }
    record = await run(parent(call))
    assert record.status.value == "succeeded", record.error
    # converted to the declared type; the trigger keeps only its declared fields
    assert record.output_json() == [{"limit": 5, "state": "open"}, {"limit": 5, "state": "open"}]


async def test_auto_map_passes_the_items_as_they_are() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    params = {"workflowInputs": {"mappingMode": "autoMapInputData", "value": {}, "schema": []}}
    record = await run(parent(inline(sub, **params)))
    assert record.output_json() == ITEMS


async def test_not_waiting_passes_the_input_items_through() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    record = await run(parent(inline(sub, options={"waitForSubWorkflow": False})))
    assert record.status.value == "succeeded"
    assert record.output_json() == ITEMS


def failing_child(message: str = "boom") -> dict[str, Any]:
    return child({"name": "Fail", "type": "relayflow.stopAndError", "parameters": {"errorMessage": message}})


async def test_a_failed_sub_workflow_fails_the_node_with_the_child_error() -> None:
    record = await run(parent(inline(failing_child("no stock left"))))
    assert record.status.value == "failed"
    assert record.error is not None
    assert record.error["node"] == "Call" and record.error["message"] == "no stock left"
    assert "'Fail'" in record.error["description"]


async def test_continue_on_fail_turns_a_child_failure_into_an_error_item() -> None:
    call = {**inline(failing_child("no stock left"), mode="each"), "onError": "continueRegularOutput"}
    record = await run(parent(call))
    assert record.status.value == "succeeded"
    assert record.output_json() == [{"error": "no stock left"}, {"error": "no stock left"}]


async def test_url_source_is_refused_clearly() -> None:
    call = {
        "type": "relayflow.executeWorkflow",
        "parameters": {"source": "url", "workflowUrl": "https://x/y.json"},
    }
    record = await run(parent(call))
    assert record.status.value == "failed"
    assert record.error is not None and "URL is not supported" in record.error["message"]


async def test_missing_workflow_reference_names_the_field() -> None:
    record = await run(parent({"type": "relayflow.executeWorkflow", "parameters": {"source": "localFile"}}))
    assert record.error is not None and "workflowPath" in record.error["message"]


async def test_input_items_are_not_mutated_by_the_sub_workflow() -> None:
    items = [{"json": {"n": 1}, "pairedItem": {"item": 0}}]
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    await run(parent(inline(sub)), items=items)
    assert items == [{"json": {"n": 1}, "pairedItem": {"item": 0}}]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [{}]),
        ({"inputSource": "passthrough"}, [{}]),
        ({"inputSource": "workflowInputs", "workflowInputs": {"values": [{"name": "a"}]}}, [{"a": None}]),
    ],
)
async def test_trigger_run_by_hand_emits_one_empty_item(params: dict[str, Any], expected: Any) -> None:
    record = await run_workflow(child(trigger={"parameters": params}))
    assert record.status.value == "succeeded", record.error
    assert record.output_json() == expected


async def test_json_example_keeps_the_example_keys() -> None:
    sub = child(
        {"name": "Echo", "type": "relayflow.noOp"},
        trigger={"parameters": {"inputSource": "jsonExample", "jsonExample": '{"tag": "x", "missing": 1}'}},
    )
    record = await run(parent(inline(sub)))
    assert record.output_json() == [{"tag": "a", "missing": None}, {"tag": "b", "missing": None}]


async def test_workflow_inputs_are_evaluated_per_item() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    params = {
        "workflowInputs": {"mappingMode": "defineBelow", "value": {"label": "={{ $json.tag }}", "fixed": 1}}
    }
    engine = make_engine(expressions=JsonFieldExpressions())
    record = await run(parent(inline(sub, **params)), engine=engine)
    assert record.output_json() == [{"label": "a", "fixed": 1}, {"label": "b", "fixed": 1}]


@pytest.mark.skipif(default_expression_engine() is None, reason="the expression engine has not landed yet")
async def test_real_expressions_in_workflow_inputs() -> None:
    sub = child({"name": "Echo", "type": "relayflow.noOp"})
    params = {"workflowInputs": {"mappingMode": "defineBelow", "value": {"double": "={{ $json.n * 2 }}"}}}
    record = await run(parent(inline(sub, mode="each", **params)))
    assert record.output_json() == [{"double": 2}, {"double": 4}]
