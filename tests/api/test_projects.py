"""/api/v1/projects, project membership, workflow sharing and moving, and the adoption of
workflows made before the instance had users."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from relayflow.access.model import ALL_SCOPES, AuditQuery, InstanceRole, ObjectKind, ProjectRole, Scope, User
from relayflow.api import ApiServices, create_app
from relayflow.api.authz import adopt_at_start
from tests.api.conftest import API, OWNER_EMAIL, assert_problem, hello

PASSWORD = "member-password-1"


async def member(
    services: ApiServices,
    email: str,
    *,
    role: InstanceRole = InstanceRole.MEMBER,
    scopes: Iterable[Scope] = ALL_SCOPES,
) -> tuple[User, dict[str, str]]:
    """A new user and the headers that authenticate as them."""
    user = await services.access.create_user(email, email.partition("@")[0], PASSWORD, role)
    token = (await services.access.issue_api_key(user, "test", scopes)).token
    return user, {"X-API-Key": token}


async def join(services: ApiServices, project_id: str, user: User, role: ProjectRole) -> None:
    await services.access.store.set_member(project_id, user.id, role)
    services.access.changed()


async def team(client: httpx.AsyncClient, name: str = "Team") -> dict[str, Any]:
    response = await client.post(f"{API}/projects", json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def workflow_in(client: httpx.AsyncClient, project_id: str, **changes: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/workflows", params={"projectId": project_id}, json=hello(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# projects -----------------------------------------------------------------------------------------


async def test_each_caller_lists_their_own_projects(client: httpx.AsyncClient, services: ApiServices) -> None:
    alice, as_alice = await member(services, "alice@example.com")
    made = await team(client, "Sales")
    assert made["type"] == "team" and made["role"] == "admin" and made["name"] == "Sales"
    mine = (await client.get(f"{API}/projects")).json()["data"]
    assert {p["id"] for p in mine} >= {made["id"], alice.personal_project_id}  # the owner sees all
    theirs = (await client.get(f"{API}/projects", headers=as_alice)).json()["data"]
    assert [(p["id"], p["type"], p["role"]) for p in theirs] == [
        (alice.personal_project_id, "personal", "admin")
    ]
    assert_problem(await client.get(f"{API}/projects/{made['id']}", headers=as_alice), 404, "not_found")
    await join(services, made["id"], alice, ProjectRole.VIEWER)
    seen = await client.get(f"{API}/projects/{made['id']}", headers=as_alice)
    assert seen.status_code == 200 and seen.json()["role"] == "viewer"


async def test_team_projects_are_made_by_instance_admins_with_the_admin_scope(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    _, as_alice = await member(services, "alice@example.com")
    assert_problem(
        await client.post(f"{API}/projects", json={"name": "X"}, headers=as_alice), 403, "forbidden"
    )
    _, as_admin = await member(services, "admin@example.com", role=InstanceRole.ADMIN)
    assert (await client.post(f"{API}/projects", json={"name": "X"}, headers=as_admin)).status_code == 201
    _, write_only = await member(
        services, "admin2@example.com", role=InstanceRole.ADMIN, scopes=[Scope.READ, Scope.WRITE]
    )
    assert_problem(
        await client.post(f"{API}/projects", json={"name": "Y"}, headers=write_only), 403, "forbidden"
    )
    assert (await client.post(f"{API}/projects", json={"name": ""})).status_code == 422


async def test_rename_and_delete_need_the_admin_role_and_spare_personal_projects(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    made = await team(client)
    editor, as_editor = await member(services, "ed@example.com")
    await join(services, made["id"], editor, ProjectRole.EDITOR)
    url = f"{API}/projects/{made['id']}"
    assert_problem(await client.patch(url, json={"name": "Nope"}, headers=as_editor), 403, "forbidden")
    assert_problem(await client.delete(url, headers=as_editor), 403, "forbidden")
    renamed = await client.patch(url, json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    personal = f"{API}/projects/{editor.personal_project_id}"
    assert_problem(await client.patch(personal, json={"name": "Mine"}, headers=as_editor), 409, "conflict")
    assert_problem(await client.delete(personal, headers=as_editor), 409, "conflict")
    assert (await client.delete(url)).status_code == 204
    assert_problem(await client.get(url), 404, "not_found")
    actions = [
        e.action
        for e in (await services.access.store.audit_log(AuditQuery(action="project.", limit=100))).items
    ]
    assert {"project.created", "project.updated", "project.deleted"} <= set(actions)


async def test_a_project_that_owns_workflows_is_deleted_only_with_transfer_to(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    doomed, heir = await team(client, "Doomed"), await team(client, "Heir")
    wf = await workflow_in(client, doomed["id"])
    url = f"{API}/projects/{doomed['id']}"
    assert_problem(await client.delete(url), 409, "conflict")
    assert_problem(await client.delete(url, params={"transferTo": doomed["id"]}), 409, "conflict")
    assert_problem(await client.delete(url, params={"transferTo": "nope"}), 404, "not_found")
    assert (await client.delete(url, params={"transferTo": heir["id"]})).status_code == 204
    moved = (await client.get(f"{API}/workflows/{wf['id']}")).json()
    assert moved["projectId"] == heir["id"]


async def test_members_are_set_changed_and_removed_by_project_admins(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    made = await team(client)
    wf = await workflow_in(client, made["id"])
    bob, as_bob = await member(services, "bob@example.com")
    members = f"{API}/projects/{made['id']}/members"
    assert_problem(await client.get(f"{API}/workflows/{wf['id']}", headers=as_bob), 404, "not_found")
    added = await client.put(f"{members}/{bob.id}", json={"role": "viewer"})
    assert added.json() == {"userId": bob.id, "email": "bob@example.com", "name": "bob", "role": "viewer"}
    # the membership applies at once (the principal cache is cleared)
    assert (await client.get(f"{API}/workflows/{wf['id']}", headers=as_bob)).status_code == 200
    assert_problem(
        await client.patch(f"{API}/workflows/{wf['id']}", json={"name": "x"}, headers=as_bob),
        403,
        "forbidden",
    )
    listed = (await client.get(members, headers=as_bob)).json()["data"]
    assert {(m["email"], m["role"]) for m in listed} == {
        (OWNER_EMAIL, "admin"),
        ("bob@example.com", "viewer"),
    }
    # a viewer cannot change members; an admin with a key lacking the admin scope neither
    assert_problem(
        await client.put(f"{members}/{bob.id}", json={"role": "admin"}, headers=as_bob), 403, "forbidden"
    )
    await client.put(f"{members}/{bob.id}", json={"role": "admin"})
    no_admin_scope = (await services.access.issue_api_key(bob, "w", [Scope.READ, Scope.WRITE])).token
    carol, _ = await member(services, "carol@example.com")
    assert_problem(
        await client.put(
            f"{members}/{carol.id}", json={"role": "viewer"}, headers={"X-API-Key": no_admin_scope}
        ),
        403,
        "forbidden",
    )
    assert_problem(await client.put(f"{members}/nobody", json={"role": "viewer"}), 404, "not_found")
    assert (await client.put(f"{members}/{bob.id}", json={"role": "sovereign"})).status_code == 422
    assert (await client.delete(f"{members}/{bob.id}")).status_code == 204
    assert_problem(await client.delete(f"{members}/{bob.id}"), 404, "not_found")
    assert_problem(await client.get(f"{API}/workflows/{wf['id']}", headers=as_bob), 404, "not_found")


async def test_a_team_project_keeps_an_admin_and_personal_ones_take_no_members(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    alice, as_alice = await member(services, "alice@example.com", role=InstanceRole.ADMIN)
    made = await team(client)
    members = f"{API}/projects/{made['id']}/members"
    owner = (await client.get(f"{API}/me")).json()
    assert_problem(await client.put(f"{members}/{owner['id']}", json={"role": "editor"}), 409, "conflict")
    assert_problem(await client.delete(f"{members}/{owner['id']}"), 409, "conflict")
    await client.put(f"{members}/{alice.id}", json={"role": "admin"})
    assert (await client.delete(f"{members}/{owner['id']}")).status_code == 204
    personal = f"{API}/projects/{alice.personal_project_id}/members/{owner['id']}"
    assert_problem(await client.put(personal, json={"role": "viewer"}, headers=as_alice), 409, "conflict")


# workflows in projects ----------------------------------------------------------------------------


async def test_a_workflow_goes_to_the_named_project_or_the_personal_one(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    made = await team(client)
    alice, as_alice = await member(services, "alice@example.com")
    mine = await client.post(f"{API}/workflows", json=hello(), headers=as_alice)
    assert mine.status_code == 201 and mine.json()["projectId"] == alice.personal_project_id
    assert mine.json()["sharedWith"] == []
    refused = await client.post(
        f"{API}/workflows", params={"projectId": made["id"]}, json=hello(), headers=as_alice
    )
    assert_problem(refused, 404, "not_found")
    await join(services, made["id"], alice, ProjectRole.VIEWER)
    refused = await client.post(
        f"{API}/workflows", params={"projectId": made["id"]}, json=hello(), headers=as_alice
    )
    assert_problem(refused, 403, "forbidden")
    await join(services, made["id"], alice, ProjectRole.EDITOR)
    placed = await client.post(
        f"{API}/workflows", params={"projectId": made["id"]}, json=hello(), headers=as_alice
    )
    assert placed.status_code == 201 and placed.json()["projectId"] == made["id"]
    listed = (await client.get(f"{API}/workflows", headers=as_alice)).json()["data"]
    assert {(w["id"], w["projectId"]) for w in listed} == {
        (mine.json()["id"], alice.personal_project_id),
        (placed.json()["id"], made["id"]),
    }
    entries = await services.access.store.audit_log(AuditQuery(action="workflow.created"))
    assert {e.target_id for e in entries.items} == {mine.json()["id"], placed.json()["id"]}


async def test_sharing_gives_the_other_projects_members_their_role(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    home, guest = await team(client, "Home"), await team(client, "Guest")
    wf = await workflow_in(client, home["id"])
    url = f"{API}/workflows/{wf['id']}"
    viewer, as_viewer = await member(services, "viewer@example.com")
    editor, as_editor = await member(services, "editor@example.com")
    await join(services, guest["id"], viewer, ProjectRole.VIEWER)
    await join(services, guest["id"], editor, ProjectRole.ADMIN)
    assert_problem(await client.get(url, headers=as_editor), 404, "not_found")
    shared = await client.put(f"{url}/share", json={"projectIds": [guest["id"], home["id"]]})
    assert shared.status_code == 200 and shared.json()["sharedWith"] == [guest["id"]]
    assert (await client.get(url, headers=as_viewer)).status_code == 200
    assert [w["id"] for w in (await client.get(f"{API}/workflows", headers=as_viewer)).json()["data"]] == [
        wf["id"]
    ]
    assert_problem(await client.patch(url, json={"name": "v"}, headers=as_viewer), 403, "forbidden")
    assert (await client.patch(url, json={"name": "by guest"}, headers=as_editor)).status_code == 200
    # a role through a share never shares on or moves it (the owning project's admins do)
    assert_problem(
        await client.put(f"{url}/share", json={"projectIds": []}, headers=as_editor), 403, "forbidden"
    )
    assert_problem(
        await client.put(f"{url}/transfer", json={"projectId": guest["id"]}, headers=as_editor),
        403,
        "forbidden",
    )
    assert (await client.put(f"{url}/share", json={"projectIds": []})).json()["sharedWith"] == []
    assert_problem(await client.get(url, headers=as_viewer), 404, "not_found")
    assert_problem(await client.put(f"{url}/share", json={"projectIds": ["nope"]}), 404, "not_found")


async def test_sharing_into_a_project_needs_membership_there(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    alice, as_alice = await member(services, "alice@example.com")
    other = await team(client, "Other")
    wf = (await client.post(f"{API}/workflows", json=hello(), headers=as_alice)).json()
    share = f"{API}/workflows/{wf['id']}/share"
    assert_problem(
        await client.put(share, json={"projectIds": [other["id"]]}, headers=as_alice), 404, "not_found"
    )
    await join(services, other["id"], alice, ProjectRole.VIEWER)
    assert (await client.put(share, json={"projectIds": [other["id"]]}, headers=as_alice)).status_code == 200


async def test_transfer_moves_the_workflow_and_its_executions(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    source, target = await team(client, "Source"), await team(client, "Target")
    wf = await workflow_in(client, source["id"])
    run = (await client.post(f"{API}/workflows/{wf['id']}/run", json={"wait": True})).json()
    alice, as_alice = await member(services, "alice@example.com")
    await join(services, source["id"], alice, ProjectRole.EDITOR)
    assert (await client.get(f"{API}/executions/{run['id']}", headers=as_alice)).status_code == 200
    moved = await client.put(f"{API}/workflows/{wf['id']}/transfer", json={"projectId": target["id"]})
    assert moved.status_code == 200 and moved.json()["projectId"] == target["id"]
    assert_problem(await client.get(f"{API}/workflows/{wf['id']}", headers=as_alice), 404, "not_found")
    assert_problem(await client.get(f"{API}/executions/{run['id']}", headers=as_alice), 404, "not_found")
    assert (await client.get(f"{API}/executions", headers=as_alice)).json()["data"] == []
    entries = (await services.access.store.audit_log(AuditQuery(action="workflow.moved"))).items
    assert [(e.target_id, e.detail["toProjectId"]) for e in entries] == [(wf["id"], target["id"])]


async def test_executions_of_a_deleted_workflow_stay_for_instance_admins_only(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    _, as_alice = await member(services, "alice@example.com")
    wf = (await client.post(f"{API}/workflows", json=hello(), headers=as_alice)).json()
    run = (await client.post(f"{API}/workflows/{wf['id']}/run", json={"wait": True}, headers=as_alice)).json()
    assert (await client.delete(f"{API}/workflows/{wf['id']}", headers=as_alice)).status_code == 204
    assert await services.access.store.owner_of(ObjectKind.WORKFLOW, wf["id"]) is None
    assert_problem(await client.get(f"{API}/executions/{run['id']}", headers=as_alice), 404, "not_found")
    assert (await client.get(f"{API}/executions/{run['id']}")).status_code == 200


# adoption of workflows made before the owner ------------------------------------------------------


async def test_the_owner_adopts_workflows_made_before_there_were_users(services: ApiServices) -> None:
    early = await services.workflows.create(hello(name="Early"))
    assert services.on_owner_created is not None
    owner = await services.access.setup_owner(OWNER_EMAIL, "Owner", "owner-password-1")
    await services.on_owner_created(owner)
    assert await services.access.store.owner_of(ObjectKind.WORKFLOW, early.id) == owner.personal_project_id
    # one imported by the CLI while no server ran: adopted when the server starts
    late = await services.workflows.create(hello(name="Late"))
    assert await services.access.store.owner_of(ObjectKind.WORKFLOW, late.id) is None
    assert await adopt_at_start(services) == 1
    assert await services.access.store.owner_of(ObjectKind.WORKFLOW, late.id) == owner.personal_project_id


async def test_unowned_workflows_are_for_instance_admins_only(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    orphan = await services.workflows.create(hello(name="Orphan"))
    _, as_alice = await member(services, "alice@example.com")
    assert_problem(await client.get(f"{API}/workflows/{orphan.id}", headers=as_alice), 404, "not_found")
    assert (await client.get(f"{API}/workflows", headers=as_alice)).json()["data"] == []
    got = await client.get(f"{API}/workflows/{orphan.id}")
    assert got.status_code == 200 and got.json()["projectId"] is None


async def test_a_server_start_adopts_through_the_lifespan(services: ApiServices) -> None:
    owner = await services.access.setup_owner(OWNER_EMAIL, "Owner", "owner-password-1")
    orphan = await services.workflows.create(hello(name="Orphan"))
    app = create_app(services)
    async with app.router.lifespan_context(app):
        assert (
            await services.access.store.owner_of(ObjectKind.WORKFLOW, orphan.id) == owner.personal_project_id
        )


# events and metrics --------------------------------------------------------------------------------


async def test_the_event_streams_take_a_token_in_the_query_and_nothing_else_does(
    client: httpx.AsyncClient, services: ApiServices, created: dict[str, Any]
) -> None:
    run = (await client.post(f"{API}/workflows/{created['id']}/run", json={"wait": True})).json()
    token = client.headers["x-api-key"]
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as browser:
        stream = await browser.get(f"{API}/executions/{run['id']}/events", params={"access_token": token})
        assert stream.status_code == 200 and "execution.finished" in stream.text
        refused = await browser.get(f"{API}/workflows/{created['id']}", params={"access_token": token})
        assert_problem(refused, 401, "unauthorized")
    _, as_alice = await member(services, "alice@example.com")
    assert_problem(
        await client.get(f"{API}/executions/{run['id']}/events", headers=as_alice), 404, "not_found"
    )


async def test_metrics_are_for_instance_admins(client: httpx.AsyncClient, services: ApiServices) -> None:
    _, as_alice = await member(services, "alice@example.com")
    _, as_admin = await member(services, "admin@example.com", role=InstanceRole.ADMIN, scopes=[Scope.READ])
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as anonymous:
        assert_problem(await anonymous.get("/metrics"), 401, "unauthorized")
    assert_problem(await client.get("/metrics", headers=as_alice), 403, "forbidden")
    assert (await client.get("/metrics", headers=as_admin)).status_code == 200
