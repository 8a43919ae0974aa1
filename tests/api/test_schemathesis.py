"""schemathesis over ``/api/v1/openapi.json``: no 5xx, and every answer as the schema documents it
(status code, content type, body), on SQLite and on PostgreSQL.

Each operation gets positive cases, and negative ones where it takes a query or a body
(``derandomize``: the same cases every run). Part of the cases aim at a workflow, a version,
executions and node types that exist, and send a valid workflow, so they reach past the 404s
and 422s. ``GET /events`` streams until the client leaves and is left out; an execution's
``/events`` ends once the execution has finished, and is kept.
"""

from __future__ import annotations

import copy
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

from relayflow.api import ApiServices, build_services, create_app
from relayflow.store.config import open_stores
from tests.api.conftest import API, hello
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


@dataclass
class Seeds:
    """What exists before the cases run: path parameter values, and bodies by operation."""

    path: dict[str, list[str]] = field(default_factory=dict)
    bodies: dict[str, list[Any]] = field(default_factory=dict)


class SeededApp:
    """The API on ``database_url``, with a few workflows and executions to aim at.

    schemathesis runs an ASGI app in an event loop of its own, so the stores are opened there,
    when the lifespan starts, and closed when it ends.
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.services: ApiServices | None = None
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
        self.services = build_services(*await open_stores(self.database_url))
        self.app = create_app(self.services)
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
            ok = (await client.post(f"{API}/workflows", json=hello())).json()["id"]
            failing = (await client.post(f"{API}/workflows", json=copy.deepcopy(FAILING))).json()["id"]
            versions = (await client.get(f"{API}/workflows/{ok}/versions")).json()["data"]
            run = {"input": [{"name": "Ada"}], "wait": True}
            succeeded = (await client.post(f"{API}/workflows/{ok}/run", json=run)).json()["id"]
            failed = (await client.post(f"{API}/workflows/{failing}/run", json=run)).json()["id"]
        version_id = versions[0]["versionId"]
        self.seeds = Seeds(
            path={
                "workflow_id": [ok, failing, NUL_ID],
                "version_id": [version_id, NUL_ID],
                "execution_id": [succeeded, failed, NUL_ID],
                "node_type": ["n8n-nodes-base.set", "relayflow.set", NUL_ID],
            },
            bodies={
                f"POST {API}/workflows": [hello()],
                f"PUT {API}/workflows/{{workflow_id}}": [hello()],
                f"PATCH {API}/workflows/{{workflow_id}}": [{"name": "Renamed"}],
                f"POST {API}/workflows/{{workflow_id}}/rollback": [{"versionId": version_id}],
            },
        )

    async def _stop(self) -> None:
        services = self.services
        if services is None:
            return
        await services.runs.drain(0.0, services.engine)
        await services.executions.flush()
        await services.executions.close()
        await services.workflows.close()
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
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not all(n in seeds.path for n in names):
        return generated
    known = st.fixed_dictionaries({n: st.sampled_from(seeds.path[n]) for n in names})
    bodies = seeds.bodies.get(operation.label, []) if mode is GenerationMode.POSITIVE else []
    aimed = [
        known.flatmap(lambda path: operation.as_strategy(generation_mode=mode, path_parameters=path)),
        *(
            known.flatmap(
                lambda path, body=body: operation.as_strategy(
                    generation_mode=mode, path_parameters=path, body=copy.deepcopy(body)
                )
            )
            for body in bodies
        ),
    ]
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
        response = case.call(timeout=REQUEST_TIMEOUT_S)
        case.validate_response(response, checks=CHECKS)

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


def _order(operation: Any) -> tuple[bool, str]:
    """Deletes last, so that the cases before them still find what they aim at."""
    return operation.method.upper() == "DELETE", operation.label


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_operation_answers_as_documented_and_never_5xx(seeded: tuple[SeededApp, Any]) -> None:
    app, schema = seeded
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    operations = [op for op in operations if op.path != f"{API}/events"]
    assert len(operations) >= 23
    failures = [
        failure
        for operation in operations
        for mode in _modes(operation)
        if (failure := _failure(operation, mode, app.seeds)) is not None
    ]
    assert not failures, "\n\n".join(failures)
