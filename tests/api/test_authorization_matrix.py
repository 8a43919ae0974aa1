"""X8: the authorization matrix, generated from the OpenAPI document.

Every operation the app documents must have an entry in ``REQUIREMENTS`` (a new route fails
``test_every_operation_is_classified`` until someone says who may call it). Each operation is
then called by each actor, on objects of project P made afresh for that cell, and the answer's
class must match what the requirement says:

- ``allowed``: anything but 401, 403 and 404 (a 409 or 422 about the body or the object's state
  still means the caller got through), never a 5xx;
- ``401`` for a caller without credentials, ``403`` for one who sees the object but whose role
  (or key scope) is too small, ``404`` for one who cannot see it at all (a project they are not
  in answers like a missing one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi import FastAPI

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import InstanceRole, ProjectRole, Scope
from relayflow.access.service import AccessService, fast_hasher
from relayflow.api import ApiServices, build_services, create_app
from relayflow.engine.binary import BinaryData
from relayflow.security.secrets import Keyring
from relayflow.store.memory import MemoryExecutionStore, MemoryWorkflowStore
from tests.api.conftest import API, hello

PASSWORD = "actor-password-1"

# who calls ------------------------------------------------------------------------------------
ANONYMOUS = "anonymous"
OWNER = "owner"  # the instance owner
INSTANCE_ADMIN = "instance-admin"
PROJECT_ADMIN = "project-admin"  # a member, admin of P
EDITOR = "editor"  # a member, editor of P
VIEWER = "viewer"  # a member, viewer of P
OUTSIDER = "outsider"  # a member, admin of another project Q, not in P
READ_KEY = "editor-read-key"  # the editor, with an API key of the read scope only
ACTORS = (ANONYMOUS, OWNER, INSTANCE_ADMIN, PROJECT_ADMIN, EDITOR, VIEWER, OUTSIDER, READ_KEY)
MEMBER_ROLES = {PROJECT_ADMIN: ProjectRole.ADMIN, EDITOR: ProjectRole.EDITOR, VIEWER: ProjectRole.VIEWER}

# what an operation needs ------------------------------------------------------------------------
PUBLIC = "public"  # no credentials at all
AUTHENTICATED = "authenticated"  # any user; lists are filtered (test_project_isolation.py)
SELF = "self"  # any user, about themselves (their keys, password, session)
P_VIEWER = "project:viewer"  # a role in the object's project (P), at least this one
P_EDITOR = "project:editor"
P_ADMIN = "project:admin"
INSTANCE = "instance-admin"  # instance owners and admins only

SAFE = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Call:
    """What an operation needs, and how to call it: query string, JSON body, and path
    parameters other than the usual ones (the object ids of ``World.params``)."""

    needs: str
    # a GET that changes something (needs the write scope all the same)
    writes: bool = False
    query: str = ""
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)


def W(path: str) -> str:
    return f"{API}/workflows{path}"


# Every operation of the OpenAPI document. Path parameters name the objects of project P (see
# World); ``{spare_user_id}`` is a member of no project, ``{viewer_user_id}`` P's viewer,
# ``{own_key_id}`` the caller's own API key.
REQUIREMENTS: dict[str, Call] = {
    # workflows
    f"POST {W('')}": Call(P_EDITOR, query="projectId={project_id}", body=hello()),
    f"GET {W('')}": Call(AUTHENTICATED),
    f"GET {W('/{workflow_id}')}": Call(P_VIEWER),
    f"PUT {W('/{workflow_id}')}": Call(P_EDITOR, body=hello(name="Replaced")),
    f"PATCH {W('/{workflow_id}')}": Call(P_EDITOR, body={"name": "Patched"}),
    f"DELETE {W('/{workflow_id}')}": Call(P_EDITOR),
    f"POST {W('/{workflow_id}/activate')}": Call(P_EDITOR),
    f"POST {W('/{workflow_id}/deactivate')}": Call(P_EDITOR),
    f"POST {W('/{workflow_id}/test-webhook')}": Call(P_EDITOR),
    f"GET {W('/{workflow_id}/versions')}": Call(P_VIEWER),
    f"GET {W('/{workflow_id}/versions/{version_id}')}": Call(P_VIEWER),
    f"POST {W('/{workflow_id}/rollback')}": Call(P_EDITOR, body={"versionId": "{version_id}"}),
    f"GET {W('/{workflow_id}/export')}": Call(P_VIEWER),
    f"PUT {W('/{workflow_id}/share')}": Call(P_ADMIN, body={"projectIds": []}),
    f"PUT {W('/{workflow_id}/transfer')}": Call(P_ADMIN, body={"projectId": "{project_id}"}),
    f"POST {W('/{workflow_id}/run')}": Call(P_EDITOR, body={"wait": True}),
    # executions and their events
    f"GET {API}/executions": Call(AUTHENTICATED),
    f"GET {API}/executions/{{execution_id}}": Call(P_VIEWER),
    f"DELETE {API}/executions/{{execution_id}}": Call(P_EDITOR),
    f"POST {API}/executions/{{execution_id}}/stop": Call(P_EDITOR),
    f"POST {API}/executions/{{execution_id}}/retry": Call(P_EDITOR, body={}),
    f"GET {API}/executions/{{execution_id}}/events": Call(P_VIEWER),
    f"GET {API}/executions/{{execution_id}}/binary/{{name}}": Call(
        P_VIEWER, params={"execution_id": "{binary_execution_id}", "name": "{binary_name}"}
    ),
    f"GET {API}/events": Call(AUTHENTICATED),
    # the node catalogue
    f"GET {API}/node-types": Call(AUTHENTICATED),
    f"GET {API}/node-types/{{node_type}}": Call(AUTHENTICATED, params={"node_type": "n8n-nodes-base.set"}),
    # credentials
    f"POST {API}/credentials": Call(
        P_EDITOR,
        query="projectId={project_id}",
        body={"name": "Another", "type": "httpHeaderAuth", "data": {"name": "X-Token", "value": "s3cret"}},
    ),
    f"GET {API}/credentials": Call(AUTHENTICATED),
    f"GET {API}/credentials/{{credential_id}}": Call(P_VIEWER),
    f"PATCH {API}/credentials/{{credential_id}}": Call(P_EDITOR, body={"name": "Renamed"}),
    f"DELETE {API}/credentials/{{credential_id}}": Call(P_EDITOR),
    f"POST {API}/credentials/{{credential_id}}/test": Call(P_EDITOR),
    f"PUT {API}/credentials/{{credential_id}}/share": Call(P_ADMIN, body={"projectIds": []}),
    f"PUT {API}/credentials/{{credential_id}}/transfer": Call(P_ADMIN, body={"projectId": "{project_id}"}),
    # starts a connection (keeps its state): the write scope as well
    f"GET {API}/credentials/{{credential_id}}/oauth2/authorize": Call(P_EDITOR, writes=True),
    f"GET {API}/credential-types": Call(AUTHENTICATED),
    # projects
    f"GET {API}/projects": Call(AUTHENTICATED),
    f"POST {API}/projects": Call(INSTANCE, body={"name": "Team"}),
    f"GET {API}/projects/{{project_id}}": Call(P_VIEWER),
    f"PATCH {API}/projects/{{project_id}}": Call(P_ADMIN, body={"name": "Renamed"}),
    # P still owns the workflow: the caller gets through to a 409
    f"DELETE {API}/projects/{{project_id}}": Call(P_ADMIN),
    f"GET {API}/projects/{{project_id}}/members": Call(P_VIEWER),
    f"PUT {API}/projects/{{project_id}}/members/{{user_id}}": Call(
        P_ADMIN, body={"role": "viewer"}, params={"user_id": "{spare_user_id}"}
    ),
    f"DELETE {API}/projects/{{project_id}}/members/{{user_id}}": Call(
        P_ADMIN, params={"user_id": "{viewer_user_id}"}
    ),
    # users, keys, audit (instance administration)
    f"GET {API}/users": Call(INSTANCE),
    f"POST {API}/users": Call(
        INSTANCE, body={"email": "new@example.com", "name": "New", "password": PASSWORD, "role": "member"}
    ),
    f"GET {API}/users/{{user_id}}": Call(INSTANCE, params={"user_id": "{spare_user_id}"}),
    f"PATCH {API}/users/{{user_id}}": Call(
        INSTANCE, body={"name": "Renamed"}, params={"user_id": "{spare_user_id}"}
    ),
    f"DELETE {API}/users/{{user_id}}": Call(INSTANCE, params={"user_id": "{spare_user_id}"}),
    f"GET {API}/audit": Call(INSTANCE),
    f"POST {API}/api-keys": Call(SELF, body={"name": "mine", "scopes": ["read"]}),
    f"GET {API}/api-keys": Call(SELF),
    f"DELETE {API}/api-keys/{{key_id}}": Call(SELF, params={"key_id": "{own_key_id}"}),
    # the caller's own account
    f"GET {API}/me": Call(SELF),
    f"PUT {API}/me/password": Call(
        SELF, body={"currentPassword": PASSWORD, "newPassword": "changed-password-2"}
    ),
    f"POST {API}/auth/logout": Call(SELF),
    # open: setup (409 once done), login, refresh, the OAuth2 callback, probes
    f"POST {API}/setup": Call(PUBLIC, body={"email": "x@example.com", "name": "X", "password": PASSWORD}),
    f"POST {API}/auth/login": Call(PUBLIC, body={"email": "spare@example.com", "password": PASSWORD}),
    f"POST {API}/auth/refresh": Call(PUBLIC, body={"refreshToken": "{refresh_token}"}),
    "GET /oauth2/callback": Call(PUBLIC, query="code=abc&state=unknown"),
    "GET /healthz": Call(PUBLIC),
    "GET /readyz": Call(PUBLIC),
    # the scrape covers every project's work
    "GET /metrics": Call(INSTANCE),
}


def expected(call: Call, actor: str, method: str) -> str:
    """The answer class for one cell: "allowed", "401", "403" or "404"."""
    needs = call.needs
    if needs == PUBLIC:
        return "allowed"
    if actor == ANONYMOUS:
        return "401"
    if actor == READ_KEY and (method not in SAFE or call.writes):
        return "403"
    if needs in (AUTHENTICATED, SELF):
        return "allowed"
    if actor in (OWNER, INSTANCE_ADMIN):
        return "allowed"
    if needs == INSTANCE:
        return "403"
    need = ProjectRole(needs.removeprefix("project:"))
    role = MEMBER_ROLES.get(EDITOR if actor == READ_KEY else actor)
    if role is None:
        return "404"
    return "allowed" if role.rank >= need.rank else "403"


def answer_class(status: int) -> str:
    assert status < 500, f"server error {status}"
    return str(status) if status in (401, 403, 404) else "allowed"


# the world one cell runs in ---------------------------------------------------------------------


async def asgi_request(
    app: FastAPI, method: str, target: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request straight to the ASGI app: its status and body. A Server-Sent Events stream
    (endless) is cut after its status: the client hangs up, as a browser would."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"relayflow.test")] + [(k.encode(), v.encode()) for k, v in headers.items()],
        "server": ("relayflow.test", 80),
        "client": ("127.0.0.1", 40000),
    }
    loop = asyncio.get_running_loop()
    started: asyncio.Future[tuple[int, bool]] = loop.create_future()
    hang_up = asyncio.Event()
    chunks: list[bytes] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            kinds = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
            started.set_result((message["status"], any(b"event-stream" in v for v in kinds)))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    either: list[asyncio.Future[Any]] = [started, task]
    await asyncio.wait(either, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task.done() and not started.done():
        task.result()  # the app raised before answering: raise it here
    status, stream = await asyncio.wait_for(started, 1)
    if stream:
        hang_up.set()
    await asyncio.wait_for(task, 30)
    return status, b"".join(chunks)


@dataclass
class World:
    """Users in every role, project P with a workflow, one of its executions and a credential,
    project Q of the outsider. One per cell: no call sees another's effects."""

    services: ApiServices
    app: FastAPI
    keys: dict[str, str] = field(default_factory=dict)  # actor -> API key
    key_ids: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    async def send(self, actor: str, method: str, target: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"content-type": "application/json"}
        if actor != ANONYMOUS:
            headers["x-api-key"] = self.keys[actor]
        payload = orjson.dumps(body) if body is not None else b""
        return await asgi_request(self.app, method, target, headers, payload)

    async def json(self, actor: str, method: str, target: str, body: Any = None) -> dict[str, Any]:
        status, payload = await self.send(actor, method, target, body)
        assert status < 300, f"{method} {target}: {status} {payload!r}"
        answer: dict[str, Any] = orjson.loads(payload)
        return answer


_APPS: list[FastAPI] = []


def app_over(services: ApiServices) -> FastAPI:
    """One app for every world of this process, pointed at the world's services: building an
    app's routes costs about a second, and the routes read the services from ``app.state`` on
    each request (cells run one after another in a process)."""
    if not _APPS:
        _APPS.append(create_app(services))
    app = _APPS[0]
    app.state.services = services
    return app


async def make_world() -> World:
    access = AccessService(MemoryAccessStore(), Keyring.of([os.urandom(32)]), hasher=fast_hasher())
    services = build_services(
        MemoryWorkflowStore(), MemoryExecutionStore(), wait_park_after_s=3600, access=access
    )
    world = World(services, app_over(services))
    store = access.store
    users = {
        OWNER: await access.setup_owner("owner@example.com", "Owner", PASSWORD),
        INSTANCE_ADMIN: await access.create_user("iadmin@example.com", "Admin", PASSWORD, InstanceRole.ADMIN),
    }
    for actor in (PROJECT_ADMIN, EDITOR, VIEWER, OUTSIDER):
        users[actor] = await access.create_user(f"{actor}@example.com", actor, PASSWORD)
    spare = await access.create_user("spare@example.com", "Spare", PASSWORD)
    p = await store.create_project("P")
    q = await store.create_project("Q")
    for actor, role in MEMBER_ROLES.items():
        await store.set_member(p.id, users[actor].id, role)
    await store.set_member(q.id, users[OUTSIDER].id, ProjectRole.ADMIN)
    access.changed()
    for actor, user in users.items():
        issued = await access.issue_api_key(user, actor)
        world.keys[actor], world.key_ids[actor] = issued.token, issued.key.id
    issued = await access.issue_api_key(users[EDITOR], "read only", [Scope.READ])
    world.keys[READ_KEY], world.key_ids[READ_KEY] = issued.token, issued.key.id

    workflow = await world.json(OWNER, "POST", W(f"?projectId={p.id}"), hello())
    execution = await world.json(OWNER, "POST", W(f"/{workflow['id']}/run"), {"wait": True})
    entry = await BinaryData(services.engine.services.binary, "upload").put(b"%PDF-1", file_name="a.pdf")
    with_file = await world.json(
        OWNER,
        "POST",
        W(f"/{workflow['id']}/run"),
        {"wait": True, "input": [{"json": {}, "binary": {"data": entry}}]},
    )
    credential = await world.json(
        OWNER,
        "POST",
        f"{API}/credentials?projectId={p.id}",
        {"name": "Token", "type": "httpHeaderAuth", "data": {"name": "X-Token", "value": "s3cret"}},
    )
    login = await world.json(
        ANONYMOUS, "POST", f"{API}/auth/login", {"email": spare.email, "password": PASSWORD}
    )
    world.params = {
        "workflow_id": workflow["id"],
        "version_id": workflow["versionId"],
        "execution_id": execution["id"],
        "binary_execution_id": with_file["id"],
        "binary_name": entry["id"].rsplit("/", 1)[-1],
        "credential_id": credential["id"],
        "project_id": p.id,
        "spare_user_id": spare.id,
        "viewer_user_id": users[VIEWER].id,
        "refresh_token": login["refreshToken"],
    }
    return world


async def close_world(world: World) -> None:
    services = world.services
    await services.runs.drain(0.0, services.engine)
    await services.executions.close()
    await services.workflows.close()
    await services.engine.services.http.close()
    if services.engine.expressions is not None:
        services.engine.expressions.close()


def fill(template: Any, values: dict[str, str]) -> Any:
    """``template`` with each ``{name}`` replaced by its value (in strings, lists and dicts)."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace(f"{{{name}}}", value)
        return template
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


def documented_operations() -> list[str]:
    services = build_services(MemoryWorkflowStore(), MemoryExecutionStore())
    try:
        document = create_app(services).openapi()
    finally:
        if services.engine.expressions is not None:
            services.engine.expressions.close()
    return [
        f"{method.upper()} {path}" for path, operations in document["paths"].items() for method in operations
    ]


OPERATIONS = documented_operations()


def test_every_operation_is_classified() -> None:
    """A route nobody classified fails here: add it to REQUIREMENTS with who may call it."""
    missing = [op for op in OPERATIONS if op not in REQUIREMENTS]
    assert not missing, f"operations without an entry in REQUIREMENTS: {missing}"
    gone = [op for op in REQUIREMENTS if op not in OPERATIONS]
    assert not gone, f"entries for operations the app no longer has: {gone}"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    made = await make_world()
    yield made
    await close_world(made)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_the_matrix(world: World, operation: str, actor: str) -> None:
    call = REQUIREMENTS.get(operation)
    if call is None:
        pytest.fail(f"{operation} has no entry in REQUIREMENTS")
    method, _, path = operation.partition(" ")
    values = {**world.params, "own_key_id": world.key_ids.get(actor, world.key_ids[EDITOR])}
    params = {**values, **{k: fill(v, values) for k, v in call.params.items()}}
    target = fill(path, {k: quote(v, safe="") for k, v in params.items()})
    if call.query:
        target += "?" + fill(call.query, values)
    status, payload = await world.send(actor, method, target, fill(call.body, values))
    want = expected(call, actor, method)
    got = answer_class(status)
    assert got == want, f"{operation} as {actor} ({call.needs}): want {want}, got {status} {payload[:300]!r}"
