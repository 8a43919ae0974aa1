"""SavePolicyStore over every ExecutionStore backend: dropped executions leave nothing, node runs
are written when the progress setting says, and a waiting execution is stored whole."""

from __future__ import annotations

from datetime import timedelta

from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.store.policy import SavePolicyStore, Settings, SettingsLookup
from relayflow.store.ports import ExecutionQuery, ExecutionStore
from relayflow.store.save_policy import SaveDefaults
from tests.contract.test_execution_store import record, report, run


def fixed(settings: Settings) -> SettingsLookup:
    async def lookup(record: ExecutionRecord) -> Settings | None:
        return settings

    return lookup


async def nodes(store: ExecutionStore, execution_id: str) -> list[str] | None:
    got = await store.get(execution_id)
    return None if got is None else [r.node for r in got.node_runs]


async def finish(store: ExecutionStore, rec: ExecutionRecord, status: ExecutionStatus) -> None:
    rec.status, rec.finished_at = status, rec.started_at + timedelta(seconds=1)
    await store.execution_finished(rec)


async def test_a_dropped_execution_leaves_nothing(executions: ExecutionStore) -> None:
    store = SavePolicyStore(executions, fixed({"saveDataSuccessExecution": "none"}), SaveDefaults())
    kept, dropped = record("kept"), record("dropped")
    for rec in (kept, dropped):
        await store.execution_started(rec)
        assert await executions.get(rec.id) is not None  # durable at start
        await report(store, rec, run("Start", 0), run("Set", 1))
    await finish(store, kept, ExecutionStatus.FAILED)
    await finish(store, dropped, ExecutionStatus.SUCCEEDED)
    await store.flush()
    assert await store.get("dropped") is None
    assert [r.id for r in (await store.find(ExecutionQuery())).items] == ["kept"]
    assert await nodes(store, "kept") == ["Start", "Set"]


async def test_without_progress_node_runs_go_to_the_background_writer(executions: ExecutionStore) -> None:
    store = SavePolicyStore(executions, fixed({"saveExecutionProgress": False}), SaveDefaults())
    rec = record("ex-1")
    await store.execution_started(rec)
    await report(store, rec, run("Start", 0), run("Set", 1))
    await executions.flush()  # written within the writer's bound
    assert await nodes(executions, "ex-1") == ["Start", "Set"]
    await finish(store, rec, ExecutionStatus.SUCCEEDED)
    assert await nodes(executions, "ex-1") == ["Start", "Set"]


async def test_node_runs_of_an_execution_that_may_be_dropped_wait_for_the_end(
    executions: ExecutionStore,
) -> None:
    store = SavePolicyStore(executions, fixed({"saveDataSuccessExecution": "none"}), SaveDefaults())
    rec = record("ex-1")
    await store.execution_started(rec)
    await report(store, rec, run("Start", 0), run("Set", 1))
    await executions.flush()  # even a flushed writer holds none of them
    assert await nodes(executions, "ex-1") == []
    await finish(store, rec, ExecutionStatus.FAILED)  # kept: errors are saved
    assert await nodes(executions, "ex-1") == ["Start", "Set"]


async def test_with_progress_each_node_run_is_stored_when_reported(executions: ExecutionStore) -> None:
    store = SavePolicyStore(executions, fixed({"saveExecutionProgress": True}), SaveDefaults())
    rec = record("ex-1")
    await store.execution_started(rec)
    await report(store, rec, run("Start", 0))
    assert await nodes(executions, "ex-1") == ["Start"]
    await report(store, rec, run("Set", 1))
    assert await nodes(executions, "ex-1") == ["Start", "Set"]


async def test_a_waiting_execution_is_stored_whole(executions: ExecutionStore) -> None:
    nothing = SaveDefaults(success=False, error=False, manual=False, progress=False)
    store = SavePolicyStore(executions, fixed({}), nothing)
    by_start, by_end = record("by-start"), record("by-end")
    for rec in (by_start, by_end):
        await store.execution_started(rec)
        await report(store, rec, run("Start", 0), run("Wait", 1))
    # two ways to report a wait: a new start in status waiting, or an end in status waiting
    by_start.status = ExecutionStatus.WAITING
    await store.execution_started(by_start)
    by_end.status = ExecutionStatus.WAITING
    await store.execution_finished(by_end)
    for rec in (by_start, by_end):
        got = await executions.get(rec.id)
        assert got is not None and got.status is ExecutionStatus.WAITING
        assert [r.node for r in got.node_runs] == ["Start", "Wait"]


async def test_with_progress_a_resumed_execution_stores_its_replayed_runs_at_start(
    executions: ExecutionStore,
) -> None:
    store = SavePolicyStore(executions, fixed({"saveExecutionProgress": True}), SaveDefaults())
    rec = record("retry")
    rec.node_runs.extend([run("Start", 0), run("Set", 1)])  # the engine replays before the start
    await store.execution_started(rec)
    assert await nodes(executions, "retry") == ["Start", "Set"]
