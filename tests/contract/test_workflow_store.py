"""The WorkflowStore contract, on every backend (see conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from relayflow.engine.memory import FakeClock
from relayflow.errors import Conflict, InputInvalid, NotFound
from relayflow.store.ports import StoredWorkflow, WorkflowQuery, WorkflowStore


def wf(name: str = "Orders", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [{"name": "Start", "type": "relayflow.manualTrigger", "position": [0, 0], "parameters": {}}],
        "connections": {},
        "settings": {"executionOrder": "v1"},
        **extra,
    }


async def all_pages(store: WorkflowStore, **query: Any) -> tuple[list[StoredWorkflow], int]:
    items: list[StoredWorkflow] = []
    pages, cursor = 0, None
    while True:
        page = await store.find(WorkflowQuery(cursor=cursor, **query))
        items.extend(page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return items, pages


async def test_create_stores_synced_data_and_first_version(workflows: WorkflowStore) -> None:
    created = await workflows.create(
        wf(pinData={"Start": [{"json": {"é": 1.5, "n": None}}]}), tags=["b", "a"]
    )
    assert re.fullmatch(r"[A-Za-z0-9]{16}", created.id)
    assert re.fullmatch(r"[0-9a-f]{32}", created.version_id)
    assert (created.name, created.active, created.tags) == ("Orders", False, ("a", "b"))
    assert created.created_at == created.updated_at and created.created_at.tzinfo is not None
    assert created.data == {
        **wf(pinData={"Start": [{"json": {"é": 1.5, "n": None}}]}),
        "id": created.id,
        "name": "Orders",
        "active": False,
        "versionId": created.version_id,
    }
    assert await workflows.get(created.id) == created
    [version] = await workflows.versions(created.id)
    assert (version.version_id, version.name, version.data) == (created.version_id, "Orders", {})


async def test_create_takes_active_and_defaults_the_name(workflows: WorkflowStore) -> None:
    created = await workflows.create({"nodes": [], "connections": {}, "active": True})
    assert (created.name, created.active) == ("My workflow", True)
    assert created.data["active"] is True


@pytest.mark.parametrize(
    ("data", "tags"),
    [({"name": 5}, ()), ({"name": "x" * 256}, ()), ({"name": "ok"}, [""]), ({"name": "ok"}, "ab")],
)
async def test_create_refuses_bad_input(workflows: WorkflowStore, data: dict[str, Any], tags: Any) -> None:
    with pytest.raises(InputInvalid):
        await workflows.create(data, tags=tags)
    assert (await workflows.find(WorkflowQuery())).items == []


async def test_get_unknown_is_none(workflows: WorkflowStore) -> None:
    assert await workflows.get("nope") is None


async def test_update_keeps_a_version_per_save(workflows: WorkflowStore, clock: FakeClock) -> None:
    first = await workflows.create(wf("v1"), tags=["x"])
    clock.advance(10)
    second = await workflows.update(first.id, wf("v2", active=True), expected_version=first.version_id)
    assert second.version_id != first.version_id
    assert (second.name, second.created_at, second.tags) == ("v2", first.created_at, ("x",))
    assert second.updated_at > first.updated_at
    # the active flag changes only through set_active
    assert second.active is False and second.data["active"] is False
    assert second.data["versionId"] == second.version_id
    assert await workflows.get(first.id) == second
    versions = await workflows.versions(first.id)
    assert [(v.version_id, v.name) for v in versions] == [(second.version_id, "v2"), (first.version_id, "v1")]
    old = await workflows.version(first.id, first.version_id)
    assert old is not None and old.data == first.data and old.created_at == first.created_at
    assert await workflows.version(first.id, "0" * 32) is None
    assert await workflows.version("nope", first.version_id) is None


async def test_update_replaces_tags_only_when_given(workflows: WorkflowStore) -> None:
    created = await workflows.create(wf(), tags=["a", "b"])
    kept = await workflows.update(created.id, wf())
    assert kept.tags == ("a", "b")
    replaced = await workflows.update(created.id, wf(), tags=["c", " a ", "c"])
    assert replaced.tags == ("a", "c")
    assert (await workflows.get(created.id)) == replaced
    cleared = await workflows.update(created.id, wf(), tags=[])
    assert cleared.tags == () and (await workflows.get(created.id)) == cleared


async def test_stale_version_conflicts_and_changes_nothing(workflows: WorkflowStore) -> None:
    created = await workflows.create(wf("v1"))
    await workflows.update(created.id, wf("v2"), expected_version=created.version_id)
    with pytest.raises(Conflict):
        await workflows.update(created.id, wf("v3"), expected_version=created.version_id)
    current = await workflows.get(created.id)
    assert current is not None and current.name == "v2"
    assert len(await workflows.versions(created.id)) == 2


async def test_unknown_workflow_is_not_found(workflows: WorkflowStore) -> None:
    with pytest.raises(NotFound):
        await workflows.update("nope", wf())
    with pytest.raises(NotFound):
        await workflows.set_active("nope", True)
    with pytest.raises(NotFound):
        await workflows.versions("nope")


async def test_set_active_keeps_the_version(workflows: WorkflowStore, clock: FakeClock) -> None:
    created = await workflows.create(wf(), tags=["t"])
    clock.advance(1)
    active = await workflows.set_active(created.id, True)
    assert (active.active, active.data["active"], active.version_id) == (True, True, created.version_id)
    assert active.tags == ("t",) and active.updated_at > created.updated_at
    assert await workflows.get(created.id) == active
    assert len(await workflows.versions(created.id)) == 1
    updated = await workflows.update(created.id, wf("renamed"))
    assert updated.active is True
    inactive = await workflows.set_active(created.id, False)
    assert inactive.active is False and inactive.data["active"] is False


async def test_delete_removes_workflow_versions_and_tags(workflows: WorkflowStore) -> None:
    doomed = await workflows.create(wf("doomed"), tags=["shared"])
    kept = await workflows.create(wf("kept"), tags=["shared"])
    assert await workflows.delete(doomed.id) is True
    assert await workflows.delete(doomed.id) is False
    assert await workflows.get(doomed.id) is None
    assert await workflows.version(doomed.id, doomed.version_id) is None
    with pytest.raises(NotFound):
        await workflows.versions(doomed.id)
    page = await workflows.find(WorkflowQuery(tag="shared"))
    assert [w.id for w in page.items] == [kept.id]


async def test_find_pages_newest_updated_first(workflows: WorkflowStore, clock: FakeClock) -> None:
    created = []
    for i in range(7):
        created.append(await workflows.create(wf(f"wf {i}")))
        clock.advance(1)
    await workflows.update(created[0].id, wf("wf 0 again"))
    first = await workflows.find(WorkflowQuery(limit=3))
    assert [w.name for w in first.items] == ["wf 0 again", "wf 6", "wf 5"]
    assert first.next_cursor is not None
    items, pages = await all_pages(workflows, limit=3)
    assert pages == 3
    assert [w.name for w in items] == ["wf 0 again", "wf 6", "wf 5", "wf 4", "wf 3", "wf 2", "wf 1"]
    exact = await workflows.find(WorkflowQuery(limit=7))
    assert len(exact.items) == 7 and exact.next_cursor is None


async def test_find_breaks_time_ties_by_id(workflows: WorkflowStore) -> None:
    ids = {(await workflows.create(wf(f"same {i}"))).id for i in range(5)}
    items, pages = await all_pages(workflows, limit=2)
    assert pages == 3
    assert [w.id for w in items] == sorted(ids, reverse=True)


async def test_find_filters(workflows: WorkflowStore, clock: FakeClock) -> None:
    orders = await workflows.create(wf("Shop ORDERS sync"), tags=["shop", "sync"])
    clock.advance(1)
    await workflows.create(wf("Invoices"), tags=["shop"])
    clock.advance(1)
    odd = await workflows.create(wf("100%_done"))
    await workflows.set_active(orders.id, True)

    async def names(**query: Any) -> list[str]:
        items, _ = await all_pages(workflows, **query)
        return [w.name for w in items]

    assert await names(name="orders") == ["Shop ORDERS sync"]
    assert await names(name="%_") == [odd.name]
    assert await names(name="o%") == []
    assert await names(tag="shop") == ["Shop ORDERS sync", "Invoices"]
    assert await names(tag="sync", active=True) == ["Shop ORDERS sync"]
    assert await names(active=False) == ["100%_done", "Invoices"]
    assert await names(tag="shop", name="voice") == ["Invoices"]
    assert await names(tag="missing") == []


async def test_find_filters_by_ids(workflows: WorkflowStore, clock: FakeClock) -> None:
    """``ids`` narrows to the given workflows (with the other filters and paging); an empty set
    finds nothing, an id that names no workflow is ignored."""
    made = []
    for i in range(5):
        made.append(await workflows.create(wf(f"wf {i}"), tags=["even"] if i % 2 == 0 else []))
        clock.advance(1)
    wanted = frozenset({made[0].id, made[2].id, made[3].id, "no-such-id"})

    async def names(**query: Any) -> list[str]:
        items, _ = await all_pages(workflows, **query)
        return [w.name for w in items]

    assert await names(ids=wanted, limit=1) == ["wf 3", "wf 2", "wf 0"]
    assert await names(ids=wanted, tag="even") == ["wf 2", "wf 0"]
    assert await names(ids=frozenset()) == []
    assert len(await names(ids=None)) == 5


@pytest.mark.parametrize("query", [WorkflowQuery(cursor="not a cursor"), WorkflowQuery(limit=0)])
async def test_find_refuses_bad_queries(workflows: WorkflowStore, query: WorkflowQuery) -> None:
    with pytest.raises(InputInvalid):
        await workflows.find(query)


async def test_returned_data_is_not_shared_with_the_store(workflows: WorkflowStore) -> None:
    created = await workflows.create(wf())
    fetched = await workflows.get(created.id)
    assert fetched is not None
    fetched.data["nodes"].append({"name": "sneaky"})
    again = await workflows.get(created.id)
    assert again is not None and len(again.data["nodes"]) == 1
