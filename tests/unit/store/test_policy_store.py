"""SavePolicyStore on the memory store: which executions are kept, and when node runs are written."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun, NodeRunStatus
from relayflow.errors import InputInvalid
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from relayflow.store.policy import SavePolicyStore, Settings, SettingsLookup, stored_settings
from relayflow.store.save_policy import SaveDefaults
from relayflow.testing import make_engine
from relayflow.workflow import parse_workflow
from tests.unit.engine.testnodes import registry, wf

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MODES = ("manual", "webhook", "trigger")
TERMINAL = ("succeeded", "failed", "cancelled", "crashed")
ERRORS = ("failed", "cancelled", "crashed")
NOTHING = SaveDefaults(success=False, error=False, manual=False)
SAVE_ALL = {"saveDataSuccessExecution": "all", "saveDataErrorExecution": "all", "saveManualExecutions": True}


def fixed(settings: Settings | None) -> SettingsLookup:
    async def lookup(record: ExecutionRecord) -> Settings | None:
        return settings

    return lookup


def record(id_: str = "ex-1", mode: str = "webhook") -> ExecutionRecord:
    return ExecutionRecord(id_, "wf1", "Orders", mode, ExecutionStatus.RUNNING, T0)


async def report(store: SavePolicyStore, rec: ExecutionRecord, *nodes: str) -> None:
    for node in nodes:
        run = NodeRun(node, 0, NodeRunStatus.SUCCEEDED, T0, T0, output=[[{"json": {"node": node}}]])
        rec.node_runs.append(run)
        await store.node_run_finished(rec, run)


async def finish(store: SavePolicyStore, rec: ExecutionRecord, status: str) -> None:
    rec.status = ExecutionStatus(status)
    rec.finished_at = rec.started_at + timedelta(seconds=1)
    await store.execution_finished(rec)


async def stored_nodes(store: MemoryExecutionStore, execution_id: str) -> list[str] | None:
    got = await store.get(execution_id)
    return None if got is None else [r.node for r in got.node_runs]


class CountingStore(MemoryExecutionStore):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


# (settings, instance defaults, the (mode, status) pairs dropped at the end)
CASES: dict[str, tuple[dict[str, Any], SaveDefaults, set[tuple[str, str]]]] = {
    "defaults keep everything": ({}, SaveDefaults(), set()),
    "success none": ({"saveDataSuccessExecution": "none"}, SaveDefaults(), {(m, "succeeded") for m in MODES}),
    "error none": (
        {"saveDataErrorExecution": "none"},
        SaveDefaults(),
        {(m, s) for m in MODES for s in ERRORS},
    ),
    "manual off": ({"saveManualExecutions": False}, SaveDefaults(), {("manual", s) for s in TERMINAL}),
    "manual on, success none": (
        {"saveManualExecutions": True, "saveDataSuccessExecution": "none"},
        SaveDefaults(),
        {(m, "succeeded") for m in MODES},
    ),
    "instance saves nothing": ({}, NOTHING, {(m, s) for m in MODES for s in TERMINAL}),
    "workflow overrides the instance": (SAVE_ALL, NOTHING, set()),
    "DEFAULT means the instance's": (
        {
            "saveDataSuccessExecution": "DEFAULT",
            "saveDataErrorExecution": "all",
            "saveManualExecutions": True,
        },
        NOTHING,
        {(m, "succeeded") for m in MODES},
    ),
}


@pytest.mark.parametrize("status", [*TERMINAL, "waiting"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(CASES))
async def test_kept_or_dropped_at_the_end(case: str, mode: str, status: str) -> None:
    settings, defaults, dropped = CASES[case]
    inner = MemoryExecutionStore()
    store = SavePolicyStore(inner, fixed(settings), defaults)
    rec = record(mode=mode)
    await store.execution_started(rec)
    assert await inner.get(rec.id) is not None  # recorded at start, whatever the settings
    await report(store, rec, "Start", "Set")
    await finish(store, rec, status)
    got = await store.get(rec.id)
    if (mode, status) in dropped:
        assert got is None
    else:
        assert got is not None and got.status == status
        assert [r.node for r in got.node_runs] == ["Start", "Set"]


async def test_without_progress_node_runs_go_to_the_inner_store_unflushed() -> None:
    inner = CountingStore()
    store = SavePolicyStore(inner, fixed({}), SaveDefaults())
    rec = record()
    await store.execution_started(rec)
    await report(store, rec, "Start", "Set")
    assert await stored_nodes(inner, rec.id) == ["Start", "Set"]
    await finish(store, rec, "succeeded")
    assert await stored_nodes(inner, rec.id) == ["Start", "Set"]
    assert inner.flushes == 0


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        ({"saveDataSuccessExecution": "none"}, "webhook"),
        ({"saveDataErrorExecution": "none"}, "trigger"),
        ({"saveManualExecutions": False}, "manual"),
    ],
)
async def test_node_runs_wait_for_the_end_when_the_execution_may_be_dropped(
    settings: dict[str, Any], mode: str
) -> None:
    inner = CountingStore()
    store = SavePolicyStore(inner, fixed(settings), SaveDefaults())
    rec = record(mode=mode)
    await store.execution_started(rec)
    await report(store, rec, "Start", "Set")
    assert await stored_nodes(inner, rec.id) == []


@pytest.mark.parametrize(
    ("settings", "defaults"),
    [
        ({"saveExecutionProgress": True}, SaveDefaults()),
        ({}, SaveDefaults(progress=True)),
        ({"saveExecutionProgress": "DEFAULT"}, SaveDefaults(progress=True)),
    ],
)
async def test_with_progress_each_node_run_is_written_and_flushed(
    settings: dict[str, Any], defaults: SaveDefaults
) -> None:
    inner = CountingStore()
    store = SavePolicyStore(inner, fixed(settings), defaults)
    rec = record()
    await store.execution_started(rec)
    await report(store, rec, "Start")
    assert await stored_nodes(inner, rec.id) == ["Start"]
    await report(store, rec, "Set")
    assert await stored_nodes(inner, rec.id) == ["Start", "Set"]
    assert inner.flushes == 2


async def test_the_workflow_can_turn_progress_off() -> None:
    inner = CountingStore()
    store = SavePolicyStore(inner, fixed({"saveExecutionProgress": False}), SaveDefaults(progress=True))
    rec = record()
    await store.execution_started(rec)
    await report(store, rec, "Start")
    assert await stored_nodes(inner, rec.id) == ["Start"]
    assert inner.flushes == 0


async def test_a_waiting_execution_is_kept_whole_then_follows_the_policy_when_it_ends() -> None:
    inner = MemoryExecutionStore()
    store = SavePolicyStore(inner, fixed({"saveDataSuccessExecution": "none"}), NOTHING)
    rec = record()
    await store.execution_started(rec)
    await report(store, rec, "Start", "Wait")
    await finish(store, rec, "waiting")
    assert await stored_nodes(inner, rec.id) == ["Start", "Wait"]
    # resumed under the same id: its new node runs are held again, then it is dropped at the end
    rec.status = ExecutionStatus.RUNNING
    await store.execution_started(rec)
    await report(store, rec, "After")
    assert await stored_nodes(inner, rec.id) == ["Start", "Wait"]
    await finish(store, rec, "succeeded")
    assert await inner.get(rec.id) is None


async def test_node_runs_reported_while_waiting_are_written() -> None:
    inner = MemoryExecutionStore()
    store = SavePolicyStore(inner, fixed({}), SaveDefaults())
    rec = record()
    await store.execution_started(rec)
    rec.status = ExecutionStatus.WAITING
    await report(store, rec, "Wait")
    assert await stored_nodes(inner, rec.id) == ["Wait"]


async def test_a_failing_lookup_falls_back_to_the_defaults(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(record: ExecutionRecord) -> Settings | None:
        raise ConnectionError("workflow store down")

    inner = MemoryExecutionStore()
    store = SavePolicyStore(inner, broken, NOTHING)
    rec = record()
    with caplog.at_level(logging.WARNING, logger="relayflow.store"):
        await store.execution_started(rec)
    assert "save settings of execution ex-1 unknown" in caplog.text
    assert await inner.get(rec.id) is not None
    await finish(store, rec, "succeeded")
    assert await inner.get(rec.id) is None


async def test_an_execution_not_seen_starting_is_looked_up_at_its_end() -> None:
    inner = MemoryExecutionStore()
    rec = record()
    await inner.execution_started(rec)
    store = SavePolicyStore(inner, fixed({"saveDataErrorExecution": "none"}), SaveDefaults())
    await report(store, rec, "Start")
    assert await stored_nodes(inner, rec.id) == ["Start"]  # the inner store's behaviour
    await finish(store, rec, "failed")
    assert await inner.get(rec.id) is None


async def test_stored_settings_reads_the_workflow() -> None:
    workflows = MemoryWorkflowStore()
    with_settings = await workflows.create(
        {"name": "a", "nodes": [], "settings": {"saveManualExecutions": False}}
    )
    odd = await workflows.create({"name": "b", "nodes": [], "settings": "oops"})
    lookup = stored_settings(workflows)

    def rec(workflow_id: str | None) -> ExecutionRecord:
        return ExecutionRecord("x", workflow_id, "n", "manual", ExecutionStatus.RUNNING, T0)

    assert await lookup(rec(with_settings.id)) == {"saveManualExecutions": False}
    assert await lookup(rec(odd.id)) is None
    assert await lookup(rec("unknown")) is None
    assert await lookup(rec(None)) is None


@pytest.mark.parametrize(
    ("fail_times", "kept"),
    [(0, False), (5, True)],
)
async def test_engine_runs_follow_the_workflows_settings(fail_times: int, kept: bool) -> None:
    workflows = MemoryWorkflowStore()
    inner = MemoryExecutionStore()
    store = SavePolicyStore(inner, stored_settings(workflows), SaveDefaults())
    data = wf(
        [{"name": "F", "type": "test.fail", "parameters": {"fail_times": fail_times, "retryable": False}}],
        [("T", "F")],
        settings={"saveDataSuccessExecution": "none"},
    )
    stored = await workflows.create(data)
    engine = make_engine(registry=registry(), store=store)
    rec = await engine.run(parse_workflow(stored.data, registry=registry()), mode="webhook")
    assert rec.status is (ExecutionStatus.FAILED if fail_times else ExecutionStatus.SUCCEEDED)
    got = await inner.get(rec.id)
    assert (got is not None) is kept
    if got is not None:
        assert [r.node for r in got.node_runs] == ["T", "F"]


def test_the_progress_default_comes_from_the_environment() -> None:
    assert SaveDefaults.from_env({}).progress is False
    assert SaveDefaults.from_env({"RELAYFLOW_SAVE_PROGRESS": "true"}).progress is True
    assert SaveDefaults.from_env({"RELAYFLOW_SAVE_PROGRESS": "0"}).progress is False
    with pytest.raises(InputInvalid, match="RELAYFLOW_SAVE_PROGRESS"):
        SaveDefaults.from_env({"RELAYFLOW_SAVE_PROGRESS": "sometimes"})
