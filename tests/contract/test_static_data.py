"""A workflow's static data, kept between executions without a new version, on every backend."""

from __future__ import annotations

from relayflow.store.ports import WorkflowStore
from tests.contract.test_workflow_store import wf


async def test_static_data_is_kept_apart_from_the_versions(workflows: WorkflowStore) -> None:
    created = await workflows.create(wf())
    await workflows.save_static_data(created.id, {"global": {"cursor": 41, "seen": ["a", "b"]}})
    await workflows.save_static_data(created.id, {"global": {"cursor": 42, "seen": ["a", "b"]}})
    got = await workflows.get(created.id)
    assert got is not None
    assert got.data["staticData"] == {"global": {"cursor": 42, "seen": ["a", "b"]}}
    assert got.version_id == created.version_id
    assert len(await workflows.versions(created.id)) == 1
    # a save of the workflow does not overwrite what executions keep
    await workflows.update(created.id, {**wf(), "staticData": {"global": {"cursor": 0}}})
    again = await workflows.get(created.id)
    assert again is not None and again.data["staticData"] == {"global": {"cursor": 42, "seen": ["a", "b"]}}


async def test_static_data_goes_with_its_workflow(workflows: WorkflowStore) -> None:
    created = await workflows.create(wf())
    await workflows.save_static_data(created.id, {"global": {"n": 1}})
    assert await workflows.delete(created.id)
    await workflows.save_static_data(created.id, {"global": {"n": 2}})  # deleted meanwhile: dropped
    assert await workflows.get(created.id) is None


async def test_load_static_data_reads_what_was_kept(workflows: WorkflowStore) -> None:
    created = await workflows.create(wf())
    assert await workflows.load_static_data(created.id) is None
    await workflows.save_static_data(created.id, {"global": {"n": 7}, "node:Feed": {"lastItemDate": "x"}})
    assert await workflows.load_static_data(created.id) == {
        "global": {"n": 7},
        "node:Feed": {"lastItemDate": "x"},
    }
    assert await workflows.delete(created.id)
    assert await workflows.load_static_data(created.id) is None
