"""Stop and Error (and the small flow nodes next to it)."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json, run_node, run_workflow


async def stop(params: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Run Stop and Error; return the execution's error."""
    with pytest.raises(NodeRunFailed) as info:
        await run_node("n8n-nodes-base.stopAndError", params, [{"a": 1}], node_fields=fields)
    return info.value.error


async def test_error_message_stops_the_workflow() -> None:
    error = await stop({"errorMessage": "Request was not sent, internal SSL error!"})
    assert error["code"] == "stop_and_error"
    assert error["message"] == "Request was not sent, internal SSL error!"
    assert error["node"] == "Node"


async def test_error_object_uses_its_message_and_description() -> None:
    obj = '{"message": "quota exceeded", "description": "try tomorrow", "code": 429}'
    error = await stop({"errorType": "errorObject", "errorObject": obj})
    assert error["message"] == "quota exceeded"
    assert error["description"] == "try tomorrow"


async def test_error_object_without_message_is_shown_as_json() -> None:
    error = await stop({"errorType": "errorObject", "errorObject": '{"code": 7}'})
    assert error["message"] == '{"code":7}'


async def test_error_object_that_is_not_json_is_the_message() -> None:
    error = await stop({"errorType": "errorObject", "errorObject": "plain words"})
    assert error["message"] == "plain words"


async def test_empty_message_still_says_what_happened() -> None:
    error = await stop({})
    assert "Stop and Error" in error["message"]


async def test_it_is_never_retried() -> None:
    wf = {
        "nodes": [
            {"name": "T", "type": "relayflow.manualTrigger"},
            {"name": "Stop", "type": "relayflow.stopAndError", "parameters": {"errorMessage": "x"},
             "retryOnFail": True, "maxTries": 5, "position": [200, 0]},
        ],
        "connections": {"T": {"main": [[{"node": "Stop", "type": "main", "index": 0}]]}},
    }  # fmt: skip
    record = await run_workflow(wf)
    assert record.status.value == "failed"
    assert record.runs_of("Stop")[0].tries == 1


async def test_continue_error_output_routes_the_items_with_the_message() -> None:
    out = await run_node(
        "relayflow.stopAndError",
        {"errorMessage": "bad row"},
        [{"a": 1}],
        node_fields={"onError": "continueErrorOutput"},
    )
    assert output_json(out, 0) == [{"a": 1, "error": "bad row"}]


async def test_unknown_error_type_is_refused_at_load_time() -> None:
    from relayflow.errors import WorkflowInvalid

    with pytest.raises(WorkflowInvalid, match="errorType"):
        await run_node("relayflow.stopAndError", {"errorType": "other"})


async def test_no_op_passes_new_dicts() -> None:
    items = [{"json": {"a": 1}}]
    out = await run_node("n8n-nodes-base.noOp", {}, items)
    assert output_json(out) == [{"a": 1}] and out[0][0] is not items[0]
