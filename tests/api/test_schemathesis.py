"""schemathesis over ``/api/v1/openapi.json``: no 5xx, and every answer as the schema documents it
(status code, content type, body), on SQLite and on PostgreSQL.

Each operation gets positive cases, and negative ones where it takes a query or a body
(``derandomize``: the same cases every run). Part of the cases aim at a workflow, a version,
executions and node types that exist, and send a valid workflow, so they reach past the 404s
and 422s. ``GET /events`` streams until the client leaves and is left out; an execution's
``/events`` ends once the execution has finished, and is kept.

Every case is sent as the instance owner (an API key with every scope), so it reaches past the
401s; a 401 where the key was sent fails the case (the fuzz would be testing nothing after it).
The operations that could revoke the fuzzer's own credentials (``DELETE /api-keys/{key_id}``,
``PATCH``/``DELETE /users/{user_id}``, ``DELETE /projects/{project_id}/members/{user_id}``) are
fuzzed too, but the ids they are aimed at are those of a disposable user and spare keys, never the
owner or the fuzzer's key; ``POST /auth/logout`` with an API key ends no session (422).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from relayflow.access.model import InstanceRole
from relayflow.access.ratelimit import RateLimits, RateLimitSettings
from relayflow.access.service import AccessService, fast_hasher
from relayflow.access.sql import SqlAccessStore, open_access_store
from relayflow.api import ApiServices, build_services, create_app
from relayflow.security.secrets import Keyring
from relayflow.store.config import open_stores
from tests.api.conftest import API, OWNER_EMAIL, OWNER_PASSWORD, hello
from tests.api.test_executions import FAILING

OPENAPI = f"{API}/openapi.json"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_MODE = 25
REQUEST_TIMEOUT_S = 10.0
# of each failure's report
MESSAGE_CHARS = 2000
# an id PostgreSQL cannot compare (text holds no NUL), which schemathesis seldom generates itself
NUL_ID = "nul\x00id"
# public routes that answer 401 to wrong credentials in the body; anywhere else a 401 means the
# fuzzer's own key was refused
REFUSE_BAD_CREDENTIALS = frozenset({f"POST {API}/auth/login", f"POST {API}/auth/refresh"})
# the fuzz sends thousands of requests a minute with one key: above the default per-key limit
REQUESTS_PER_MINUTE = 1_000_000
VICTIM_EMAIL = "victim@example.com"


@dataclass
class Seeds:
    """What exists before the cases run: path parameter values, bodies by operation, and the
    headers every case is sent with (the fuzzer's API key)."""

    path: dict[str, list[str]] = field(default_factory=dict)
    bodies: dict[str, list[Any]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class SeededApp:
    """The API on ``database_url``, with a few workflows and executions to aim at.

    schemathesis runs an ASGI app in an event loop of its own, so the stores are opened there,
    when the lifespan starts, and closed when it ends.
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.services: ApiServices | None = None
        self.access_store: SqlAccessStore | None = None
        self.app: FastAPI | None = None
        self.seeds = Seeds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self.app is not None, "the lifespan has not started"
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        # users, keys and projects on the same database, as the server keeps them
        self.access_store = await open_access_store(self.database_url)
        access = AccessService(
            self.access_store,
            Keyring.of([os.urandom(32)]),
            hasher=fast_hasher(),
            limits=RateLimits(RateLimitSettings(per_minute=REQUESTS_PER_MINUTE)),
        )
        self.services = build_services(*await open_stores(self.database_url), access=access)
        self.app = create_app(self.services)
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
            setup = {"email": OWNER_EMAIL, "name": "Owner", "password": OWNER_PASSWORD}
            answer = await client.post(f"{API}/setup", json=setup)
            assert answer.status_code == 201, answer.text
            refresh_token = answer.json()["refreshToken"]
            client.headers["X-API-Key"] = await self._fuzzer_key(access)
            self.seeds = await self._seed(client, access, refresh_token)

    async def _fuzzer_key(self, access: AccessService) -> str:
        owner = await access.store.user_by_email(OWNER_EMAIL)
        assert owner is not None
        return (await access.issue_api_key(owner, "fuzzer")).token

    async def _seed(self, client: httpx.AsyncClient, access: AccessService, refresh_token: str) -> Seeds:
        owner = await access.store.user_by_email(OWNER_EMAIL)
        assert owner is not None
        # the disposable identity the self-revoking operations are aimed at, and spare keys
        victim = await access.create_user(VICTIM_EMAIL, "Victim", OWNER_PASSWORD, InstanceRole.MEMBER)
        spare_keys = [(await access.issue_api_key(user, "spare")).key.id for user in (victim, owner)]

        async def made(path: str, body: dict[str, Any]) -> str:
            answer = await client.post(f"{API}{path}", json=body)
            assert answer.status_code in (200, 201), answer.text
            made_id: str = answer.json()["id"]
            return made_id

        ok = await made("/workflows", hello())
        failing = await made("/workflows", copy.deepcopy(FAILING))
        versions = (await client.get(f"{API}/workflows/{ok}/versions")).json()["data"]
        run = {"input": [{"name": "Ada"}], "wait": True}
        succeeded = await made(f"/workflows/{ok}/run", run)
        failed = await made(f"/workflows/{failing}/run", run)
        version_id = versions[0]["versionId"]
        team = await made("/projects", {"name": "Team"})
        member = await client.put(f"{API}/projects/{team}/members/{victim.id}", json={"role": "editor"})
        assert member.status_code == 200, member.text
        credential = {
            "name": "Header",
            "type": "httpHeaderAuth",
            "data": {"name": "X-Token", "value": "s3cret"},
        }
        credential_id = await made("/credentials", credential)
        return Seeds(
            path={
                "workflow_id": [ok, failing, NUL_ID],
                "version_id": [version_id, NUL_ID],
                "execution_id": [succeeded, failed, NUL_ID],
                "node_type": ["n8n-nodes-base.set", "relayflow.set", NUL_ID],
                "project_id": [team, owner.personal_project_id or team, NUL_ID],
                # never the owner: see the module docstring
                "user_id": [victim.id, NUL_ID],
                "key_id": [*spare_keys, NUL_ID],
                "credential_id": [credential_id, NUL_ID],
            },
            bodies={
                f"POST {API}/workflows": [hello()],
                f"PUT {API}/workflows/{{workflow_id}}": [hello()],
                f"PATCH {API}/workflows/{{workflow_id}}": [{"name": "Renamed"}],
                f"POST {API}/workflows/{{workflow_id}}/rollback": [{"versionId": version_id}],
                f"PUT {API}/workflows/{{workflow_id}}/share": [{"projectIds": [team]}],
                f"PUT {API}/workflows/{{workflow_id}}/transfer": [{"projectId": team}],
                f"POST {API}/setup": [setup_body()],
                f"POST {API}/auth/login": [{"email": OWNER_EMAIL, "password": OWNER_PASSWORD}],
                f"POST {API}/auth/refresh": [{"refreshToken": refresh_token}],
                f"PUT {API}/me/password": [
                    {"currentPassword": OWNER_PASSWORD, "newPassword": OWNER_PASSWORD}
                ],
                f"POST {API}/users": [
                    {"email": "new@example.com", "name": "New", "password": OWNER_PASSWORD, "role": "member"}
                ],
                f"PATCH {API}/users/{{user_id}}": [{"name": "Renamed", "role": "admin"}, {"disabled": True}],
                f"POST {API}/api-keys": [{"name": "more", "scopes": ["read", "write"]}],
                f"POST {API}/projects": [{"name": "Another"}],
                f"PATCH {API}/projects/{{project_id}}": [{"name": "Renamed"}],
                f"PUT {API}/projects/{{project_id}}/members/{{user_id}}": [{"role": "viewer"}],
                f"POST {API}/credentials": [credential],
                f"PATCH {API}/credentials/{{credential_id}}": [{"name": "Renamed"}],
                f"PUT {API}/credentials/{{credential_id}}/share": [{"projectIds": [team]}],
                f"PUT {API}/credentials/{{credential_id}}/transfer": [{"projectId": team}],
            },
            headers={"X-API-Key": str(client.headers["X-API-Key"])},
        )

    async def _stop(self) -> None:
        services = self.services
        if services is None:
            return
        await services.runs.drain(0.0, services.engine)
        await services.executions.flush()
        await services.executions.close()
        await services.workflows.close()
        if self.access_store is not None:
            await self.access_store.close()
        if services.engine.expressions is not None:
            services.engine.expressions.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'relayflow.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def seeded(database_url: str) -> Iterator[tuple[SeededApp, Any]]:
    app = SeededApp(database_url)
    try:
        yield app, schemathesis.openapi.from_asgi(OPENAPI, app)
    finally:
        asgi.shutdown_lifespans()


def _strategy(operation: Any, mode: GenerationMode, seeds: Seeds) -> st.SearchStrategy[Any]:
    """Cases as generated, and cases whose path parameters (and body) name things that exist."""
    generated: st.SearchStrategy[Any] = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not all(n in seeds.path for n in names):
        return generated
    known = st.fixed_dictionaries({n: st.sampled_from(seeds.path[n]) for n in names})
    bodies = seeds.bodies.get(operation.label, []) if mode is GenerationMode.POSITIVE else []

    def aimed_at(body: Any = None, *, with_body: bool = False) -> st.SearchStrategy[Any]:
        def cases(path: dict[str, str]) -> st.SearchStrategy[Any]:
            extra = {"body": copy.deepcopy(body)} if with_body else {}
            strategy: st.SearchStrategy[Any] = operation.as_strategy(
                generation_mode=mode, path_parameters=path, **extra
            )
            return strategy

        return known.flatmap(cases)

    aimed = [aimed_at(), *(aimed_at(body, with_body=True) for body in bodies)]
    return st.one_of(*aimed, generated) if names or bodies else generated


def _failure(operation: Any, mode: GenerationMode, seeds: Seeds) -> str | None:
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, seeds))
    def check(case: Any) -> None:
        response = case.call(headers=seeds.headers, timeout=REQUEST_TIMEOUT_S)
        case.validate_response(response, checks=CHECKS, headers=seeds.headers)
        if response.status_code == 401 and operation.label not in REFUSE_BAD_CREDENTIALS:
            raise AssertionError(f"the fuzzer's API key was refused (locked out?): {response.text}")

    try:
        check()
    except (Exception, FailureGroup) as exc:
        return f"{operation.label} ({mode.value}): {str(exc)[:MESSAGE_CHARS]}"
    return None


def _modes(operation: Any) -> tuple[GenerationMode, ...]:
    """Negative cases need something the schema constrains beyond a path string: a query or a
    body."""
    if list(operation.query) or operation.body:
        return (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    return (GenerationMode.POSITIVE,)


def setup_body() -> dict[str, str]:
    return {"email": "second@example.com", "name": "Second", "password": OWNER_PASSWORD}


def _order(operation: Any) -> tuple[bool, str]:
    """Deletes last, so that the cases before them still find what they aim at."""
    return operation.method.upper() == "DELETE", operation.label


@pytest.mark.slow
@pytest.mark.timeout(420)  # some 60 operations, on a busy machine
def test_every_operation_answers_as_documented_and_never_5xx(seeded: tuple[SeededApp, Any]) -> None:
    app, schema = seeded
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    operations = [op for op in operations if op.path != f"{API}/events"]
    assert len(operations) >= 60
    failures = [
        failure
        for operation in operations
        for mode in _modes(operation)
        if (failure := _failure(operation, mode, app.seeds)) is not None
    ]
    assert not failures, "\n\n".join(failures)
