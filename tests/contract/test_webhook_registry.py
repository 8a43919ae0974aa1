"""WebhookRegistry contract: memory, SQLite and PostgreSQL agree on who holds a (method, path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from relayflow.errors import Conflict, InputInvalid, NotFound
from relayflow.store.ports import WorkflowStore
from relayflow.store.sql.webhook_registry import open_webhook_registry
from relayflow.store.webhook_registry import MemoryWebhookRegistry, WebhookEntry, WebhookRegistry, route_key


async def _open(db_url: str | None) -> WebhookRegistry:
    return MemoryWebhookRegistry() if db_url is None else await open_webhook_registry(db_url)


@pytest.fixture
async def registry(db_url: str | None) -> AsyncIterator[WebhookRegistry]:
    store = await _open(db_url)
    yield store
    await store.close()


@pytest.fixture
async def wf_ids(workflows: WorkflowStore) -> tuple[str, str]:
    # on SQL a registration belongs to a stored workflow (foreign key)
    a = await workflows.create({"name": "a", "nodes": []})
    b = await workflows.create({"name": "b", "nodes": []})
    return a.id, b.id


def test_route_key_drops_parameter_names_and_slashes() -> None:
    assert route_key("/orders/:id/") == "orders/:"
    assert route_key("orders//:key") == "orders/:"
    assert route_key("Orders/new") == "Orders/new"
    assert route_key("a/:x/b/:y") == "a/:/b/:"
    assert route_key("a/:") == "a/:"  # a bare ':' is a static segment, as in the route table


async def test_register_and_list(registry: WebhookRegistry, wf_ids: tuple[str, str]) -> None:
    a, b = wf_ids
    stored = await registry.register(a, [("post", "/orders/", "Hook"), ("GET", "orders/:id", "Read")])
    await registry.register(b, [("POST", "invoices", "Hook")])
    assert stored == [WebhookEntry("orders", "POST", a, "Hook"), WebhookEntry("orders/:", "GET", a, "Read")]
    assert await registry.all() == [
        WebhookEntry("invoices", "POST", b, "Hook"),
        WebhookEntry("orders", "POST", a, "Hook"),
        WebhookEntry("orders/:", "GET", a, "Read"),
    ]


async def test_register_replaces_the_workflows_routes(
    registry: WebhookRegistry, wf_ids: tuple[str, str]
) -> None:
    a, b = wf_ids
    await registry.register(a, [("POST", "one", "Hook"), ("POST", "two", "Hook2")])
    await registry.register(b, [("POST", "other", "Hook")])
    await registry.register(a, [("POST", "two", "Renamed"), ("PUT", "three", "Hook")])
    assert await registry.all() == [
        WebhookEntry("other", "POST", b, "Hook"),
        WebhookEntry("three", "PUT", a, "Hook"),
        WebhookEntry("two", "POST", a, "Renamed"),
    ]
    await registry.register(a, [])
    assert await registry.all() == [WebhookEntry("other", "POST", b, "Hook")]


async def test_a_taken_route_is_a_conflict_naming_the_holder(
    registry: WebhookRegistry, wf_ids: tuple[str, str]
) -> None:
    a, b = wf_ids
    await registry.register(a, [("POST", "orders", "Hook")])
    await registry.register(b, [("PUT", "mine", "Keep")])
    with pytest.raises(Conflict, match=rf"POST /orders is already used by workflow '{a}' \(node 'Hook'"):
        await registry.register(b, [("GET", "orders", "Free"), ("POST", "/orders/", "Taken")])
    # nothing changed: b keeps its old routes, and GET orders was not taken either
    assert await registry.all() == [
        WebhookEntry("mine", "PUT", b, "Keep"),
        WebhookEntry("orders", "POST", a, "Hook"),
    ]


async def test_parameter_names_do_not_make_routes_distinct(
    registry: WebhookRegistry, wf_ids: tuple[str, str]
) -> None:
    a, b = wf_ids
    await registry.register(a, [("GET", "orders/:id", "Hook")])
    with pytest.raises(Conflict, match=r"GET /orders/:key is already used by workflow .*path /orders/:\)"):
        await registry.register(b, [("GET", "orders/:key", "Hook")])
    # another method, a static segment or another length is a different route
    await registry.register(
        b, [("POST", "orders/:key", "A"), ("GET", "orders/new", "B"), ("GET", "orders/:k/x", "C")]
    )
    assert len(await registry.all()) == 4


async def test_paths_are_case_sensitive(registry: WebhookRegistry, wf_ids: tuple[str, str]) -> None:
    a, b = wf_ids
    await registry.register(a, [("GET", "Orders", "Hook")])
    await registry.register(b, [("GET", "orders", "Hook")])
    assert [e.path for e in await registry.all()] == ["Orders", "orders"]


async def test_a_workflow_cannot_list_a_route_twice(
    registry: WebhookRegistry, wf_ids: tuple[str, str]
) -> None:
    a, _ = wf_ids
    with pytest.raises(Conflict, match=r"registered twice in workflow .*nodes 'One' and 'Two'"):
        await registry.register(a, [("GET", "x/:a", "One"), ("get", "/x/:b", "Two")])
    assert await registry.all() == []


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (("FETCH", "x", "Hook"), "unsupported webhook method 'FETCH'"),
        (("GET", "//", "Hook"), "path of node 'Hook' is empty"),
        (("GET", "x" * 513, "Hook"), "longer than 512"),
        (("GET", "x", ""), "node name must have 1 to 255"),
    ],
)
async def test_bad_routes_are_refused(
    registry: WebhookRegistry, wf_ids: tuple[str, str], route: tuple[str, str, str], message: str
) -> None:
    a, _ = wf_ids
    await registry.register(a, [("GET", "kept", "Hook")])
    with pytest.raises(InputInvalid, match=message):
        await registry.register(a, [route])
    assert await registry.all() == [WebhookEntry("kept", "GET", a, "Hook")]


async def test_unregister(registry: WebhookRegistry, wf_ids: tuple[str, str]) -> None:
    a, b = wf_ids
    await registry.register(a, [("GET", "x", "Hook"), ("POST", "x", "Hook")])
    await registry.register(b, [("GET", "y", "Hook")])
    assert await registry.unregister(a) == 2
    assert await registry.unregister(a) == 0
    assert await registry.all() == [WebhookEntry("y", "GET", b, "Hook")]
    # the freed route can be taken
    await registry.register(b, [("GET", "y", "Hook"), ("GET", "x", "Hook")])


async def test_concurrent_registrations_on_two_handles_have_one_winner(
    registry: WebhookRegistry, wf_ids: tuple[str, str], db_url: str | None
) -> None:
    other = registry if db_url is None else await _open(db_url)
    a, b = wf_ids
    try:
        results = await asyncio.gather(
            *(
                handle.register(wf, [("POST", f"race/:{wf}", "Hook"), ("GET", "calm", f"N{wf}")])
                for handle, wf in ((registry, a), (other, b), (registry, b), (other, a))
            ),
            return_exceptions=True,
        )
    finally:
        if other is not registry:
            await other.close()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, Conflict) for f in failures), failures
    held = await registry.all()
    # whoever won holds both routes; the loser holds none
    assert len({e.workflow_id for e in held}) == 1
    assert [(e.method, e.path) for e in held] == [("GET", "calm"), ("POST", "race/:")]
    # the loser's two calls fail; the winner's second call may lose to its first (PostgreSQL)
    assert 2 <= len(failures) <= 3


# the SQL registries only: the in-memory one does not know the workflows (no foreign key)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def test_workflows_are_checked_and_deleting_one_frees_its_routes(
    registry: WebhookRegistry, workflows: WorkflowStore
) -> None:
    with pytest.raises(NotFound, match="no workflow 'nope'"):
        await registry.register("nope", [("GET", "x", "Hook")])
    wf = await workflows.create({"name": "gone", "nodes": []})
    await registry.register(wf.id, [("GET", "x", "Hook")])
    await workflows.delete(wf.id)
    assert await registry.all() == []
