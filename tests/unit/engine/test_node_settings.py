"""Per-node settings: retries, onError, timeouts, pinData, disabled, executeOnce, alwaysOutputData."""

from __future__ import annotations

import asyncio

from relayflow.engine.run import ExecutionStatus, NodeRunStatus
from relayflow.testing import FakeClock
from tests.unit.engine.test_executor import engine, parse, run
from tests.unit.engine.testnodes import STATE, wf


def fail_node(**fields):  # type: ignore[no-untyped-def]
    params = {k: fields.pop(k) for k in ("fail_times", "retryable", "key") if k in fields}
    return {"name": "F", "type": "test.fail", "parameters": params, **fields}


async def test_retry_until_success_with_fixed_wait() -> None:
    clock = FakeClock()
    d = wf([fail_node(fail_times=2, retryOnFail=True, maxTries=3, waitBetweenTries=500)], [("T", "F")])
    rec = await run(d, engine=engine(clock=clock))
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert rec.runs_of("F")[0].tries == 3
    assert clock.sleeps == [0.5, 0.5]


async def test_retry_with_exponential_backoff_capped() -> None:
    clock = FakeClock()
    node = fail_node(
        fail_times=4,
        retryOnFail=True,
        maxTries=5,
        waitBetweenTries=1000,
        retryBackoff="exponential",
        maxWaitBetweenTries=3000,
    )
    rec = await run(wf([node], [("T", "F")]), engine=engine(clock=clock))
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0]


async def test_retries_exhausted_fail_the_workflow_naming_the_node() -> None:
    clock = FakeClock()
    rec = await run(
        wf([fail_node(fail_times=9, retryOnFail=True, maxTries=2)], [("T", "F")]), engine=engine(clock=clock)
    )
    assert rec.status is ExecutionStatus.FAILED
    assert rec.error["node"] == "F" and rec.error["message"] == "failure 2"
    assert rec.runs_of("F")[0].status is NodeRunStatus.FAILED


async def test_non_retryable_errors_are_not_retried() -> None:
    clock = FakeClock()
    d = wf([fail_node(fail_times=1, retryable=False, retryOnFail=True, maxTries=3)], [("T", "F")])
    rec = await run(d, engine=engine(clock=clock))
    assert rec.status is ExecutionStatus.FAILED
    assert STATE["calls:k"] == 1 and clock.sleeps == []


async def test_continue_regular_output_emits_an_error_item() -> None:
    d = wf(
        [fail_node(fail_times=1, onError="continueRegularOutput"), {"name": "After", "type": "test.record"}],
        [("T", "F"), ("F", "After")],
    )
    rec = await run(d)
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert rec.output_json() == [{"error": "failure 1"}]
    assert rec.runs_of("F")[0].status is NodeRunStatus.CONTINUED


async def test_legacy_continue_on_fail_behaves_as_regular_output() -> None:
    d = wf(
        [fail_node(fail_times=1, continueOnFail=True), {"name": "After", "type": "test.record"}],
        [("T", "F"), ("F", "After")],
    )
    rec = await run(d)
    assert rec.output_json() == [{"error": "failure 1"}]


async def test_continue_error_output_routes_items_to_the_error_branch() -> None:
    d = wf(
        [
            fail_node(fail_times=1, onError="continueErrorOutput"),
            {"name": "Ok", "type": "test.record"},
            {"name": "Bad", "type": "test.record"},
        ],
        [("T", "F"), ("F", "Ok", 0), ("F", "Bad", 1)],
    )
    rec = await run(d, input_items=[{"json": {"id": 7}}])
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert rec.runs_of("Ok") == []
    assert rec.output_json() == [{"id": 7, "error": "failure 1"}]


async def test_error_output_is_empty_when_the_node_succeeds() -> None:
    d = wf(
        [
            fail_node(onError="continueErrorOutput"),
            {"name": "Ok", "type": "test.record"},
            {"name": "Bad", "type": "test.record"},
        ],
        [("T", "F"), ("F", "Ok", 0), ("F", "Bad", 1)],
    )
    rec = await run(d, input_items=[{"json": {"id": 1}}])
    assert rec.runs_of("Bad") == [] and rec.output_json() == [{"id": 1}]
    assert rec.runs_of("F")[0].items_out == [1, 0]


async def test_node_timeout_fails_the_node() -> None:
    d = wf([{"name": "B", "type": "test.block", "timeout": 0.05}], [("T", "B")])
    rec = await asyncio.wait_for(run(d), 5)
    assert rec.status is ExecutionStatus.FAILED
    assert rec.error["code"] == "node_timeout" and rec.error["node"] == "B"


async def test_execution_timeout() -> None:
    d = wf([{"name": "B", "type": "test.block"}], [("T", "B")], settings={"executionTimeout": 0.05})
    rec = await asyncio.wait_for(run(d), 5)
    assert rec.status is ExecutionStatus.FAILED
    assert rec.error["code"] == "execution_timeout"


async def test_cancel_a_running_execution() -> None:
    eng = engine()
    d = wf([{"name": "B", "type": "test.block"}], [("T", "B")])
    task = asyncio.create_task(eng.run(parse(d), execution_id="ex1"))
    for _ in range(100):
        if STATE.get("started"):
            break
        await asyncio.sleep(0)
    assert eng.cancel("ex1")
    rec = await asyncio.wait_for(task, 5)
    assert rec.status is ExecutionStatus.CANCELLED
    assert rec.runs_of("B")[0].status is NodeRunStatus.CANCELLED


async def test_pin_data_replaces_the_node_run_in_manual_mode_only() -> None:
    d = wf(
        [fail_node(fail_times=5), {"name": "After", "type": "test.record"}],
        [("T", "F"), ("F", "After")],
        pinData={"F": [{"json": {"pinned": True}}]},
    )
    rec = await run(d)
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert rec.output_json() == [{"pinned": True}]
    assert rec.runs_of("F")[0].status is NodeRunStatus.PINNED
    rec2 = await run(d, mode="trigger")
    assert rec2.status is ExecutionStatus.FAILED


async def test_disabled_node_passes_items_through() -> None:
    d = wf(
        [fail_node(fail_times=5, disabled=True), {"name": "After", "type": "test.record"}],
        [("T", "F"), ("F", "After")],
    )
    rec = await run(d, input_items=[{"json": {"a": 1}}])
    assert rec.output_json() == [{"a": 1}]
    assert rec.runs_of("F")[0].status is NodeRunStatus.DISABLED
    assert "calls:k" not in STATE


async def test_execute_once_uses_only_the_first_item() -> None:
    d = wf([{"name": "A", "type": "test.record", "executeOnce": True}], [("T", "A")])
    rec = await run(d, input_items=[{"json": {"i": 0}}, {"json": {"i": 1}}])
    assert rec.output_json() == [{"i": 0}]


async def test_always_output_data_emits_an_empty_item() -> None:
    d = wf(
        [
            {"name": "E", "type": "test.emit", "parameters": {"items": []}, "alwaysOutputData": True},
            {"name": "After", "type": "test.record"},
        ],
        [("T", "E"), ("E", "After")],
    )
    rec = await run(d)
    assert rec.output_json() == [{}]


async def test_error_output_of_a_node_with_dynamic_outputs_follows_its_params() -> None:
    # Switch v3 with two rules + error output: the error items land on output 2, not 1
    rules = {
        "values": [
            {
                "conditions": {
                    "conditions": [
                        {
                            "leftValue": "a",
                            "rightValue": "a",
                            "operator": {"type": "string", "operation": "equals"},
                        }
                    ],
                    "combinator": "and",
                }
            },
            {
                "conditions": {
                    "conditions": [
                        {
                            "leftValue": "b",
                            "rightValue": "b",
                            "operator": {"type": "string", "operation": "equals"},
                        }
                    ],
                    "combinator": "and",
                }
            },
        ]
    }
    d = wf(
        [
            {
                "name": "S",
                "type": "n8n-nodes-base.switch",
                "typeVersion": 3.2,
                "onError": "continueErrorOutput",
                "parameters": {"rules": rules, "options": {}, "looseTypeValidation": False},
            },
            {"name": "First", "type": "test.record"},
            {"name": "Err", "type": "test.record"},
        ],
        [("T", "S"), ("S", "First", 0), ("S", "Err", 2)],
    )
    rec = await run(d, input_items=[{"json": {"x": 1}}])
    assert rec.status is ExecutionStatus.SUCCEEDED
    assert len(rec.runs_of("S")[0].items_out) == 3


async def test_resume_from_a_failed_execution_reruns_only_what_did_not_finish() -> None:
    eng = engine()
    d = wf(
        [
            {"name": "A", "type": "test.record"},
            {"name": "Side", "type": "test.record"},
            fail_node(fail_times=1, key="f"),
            {"name": "C", "type": "test.record"},
        ],
        [("T", "A"), ("T", "Side"), ("A", "F"), ("F", "C")],
    )
    first = await eng.run(parse(d), input_items=[{"json": {"n": 1}}])
    assert first.status is ExecutionStatus.FAILED and first.error["node"] == "F"
    order_before = list(STATE["order"])
    assert sorted(order_before) == ["A", "Side"]

    second = await eng.run(parse(d), input_items=[{"json": {"n": 1}}], resume=first, retry_of=first.id)
    assert second.status is ExecutionStatus.SUCCEEDED
    assert STATE["order"][len(order_before) :] == ["C"]  # A and Side did not run again
    assert STATE["calls:f"] == 2
    assert second.retry_of == first.id
    assert [r.node for r in second.node_runs].count("A") == 1
    assert second.output_json() == {"Side": [{"n": 1}], "C": [{"n": 1}]}


async def test_resume_keeps_paired_items_and_run_indexes() -> None:
    eng = engine()
    d = wf(
        [
            {"name": "Loop", "type": "test.counter", "parameters": {"limit": 2}},
            {"name": "Body", "type": "test.record"},
            fail_node(fail_times=1, key="g"),
            {"name": "P", "type": "test.paired", "parameters": {"key": "T"}},
        ],
        [("T", "Loop"), ("Loop", "F", 0), ("Loop", "Body", 1), ("Body", "Loop"), ("F", "P")],
    )
    first = await eng.run(parse(d), input_items=[{"json": {"i": 7}}])
    assert first.status is ExecutionStatus.FAILED
    second = await eng.run(parse(d), input_items=[{"json": {"i": 7}}], resume=first)
    assert second.status is ExecutionStatus.SUCCEEDED
    assert [r.run_index for r in second.runs_of("Loop")] == [0, 1]
    assert second.output_json() == [{"self": {"i": 7}, "origin": {"i": 7}}]


class _Loader:
    def __init__(self, workflows: dict[str, dict]) -> None:  # type: ignore[type-arg]
        self.workflows = workflows

    async def load(self, source: str, ref: object) -> object:
        assert source == "database"
        return parse(self.workflows[str(ref)])


async def test_error_workflow_runs_with_the_failure_details() -> None:
    handler = {
        "id": "handler",
        "name": "On error",
        "nodes": [
            {
                "name": "Error Trigger",
                "type": "n8n-nodes-base.errorTrigger",
                "typeVersion": 1,
                "position": [0, 0],
            },
            {"name": "Report", "type": "test.record", "position": [200, 0]},
        ],
        "connections": {"Error Trigger": {"main": [[{"node": "Report", "type": "main", "index": 0}]]}},
    }
    eng = engine(workflows=_Loader({"handler": handler}))
    d = wf([fail_node(fail_times=1)], [("T", "F")], settings={"errorWorkflow": "handler"})
    d["id"], d["name"] = "main-wf", "Main"
    rec = await eng.run(parse(d))
    assert rec.status is ExecutionStatus.FAILED
    await eng.wait_background()
    [report] = STATE["inputs"].values()
    item = report[0][0]
    assert item["execution"]["id"] == rec.id and item["execution"]["lastNodeExecuted"] == "F"
    assert item["execution"]["error"]["message"] == "failure 1" and item["execution"]["mode"] == "manual"
    assert item["workflow"] == {"id": "main-wf", "name": "Main"}


async def test_a_missing_error_workflow_is_logged_not_raised() -> None:
    eng = engine(workflows=_Loader({}))  # the loader raises KeyError (a LookupError) for "ghost"
    d = wf([fail_node(fail_times=1)], [("T", "F")], settings={"errorWorkflow": "ghost"})
    rec = await eng.run(parse(d))
    await eng.wait_background()
    assert rec.status is ExecutionStatus.FAILED and "inputs" not in STATE
