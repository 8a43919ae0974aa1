"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI

from relayflow.api import (
    audit,
    auth,
    binary_data,
    credentials,
    events,
    executions,
    headers,
    health,
    metrics,
    node_types,
    problems,
    projects,
    schemas,
    users,
    waiting,
    webhooks,
    workflows,
)
from relayflow.api.authz import adopt_at_start
from relayflow.api.deps import JsonResponse
from relayflow.api.headers import CorsSettings
from relayflow.api.security import authenticate
from relayflow.api.services import ApiServices
from relayflow.api.webhook_routes import load_routes

API_PREFIX = "/api/v1"


def _version() -> str:
    try:
        return version("relayflow")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


def create_app(services: ApiServices) -> FastAPI:
    """The REST API over ``services``: routes under /api/v1, webhooks under /webhook, probes at
    the root. At startup the webhook routes are built from the active workflows (a request that
    comes first, as through httpx.ASGITransport, builds them itself)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await load_routes(services)
        # workflows imported by the CLI while no server ran go to the owner, once there is one
        await adopt_at_start(services)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="relayflow",
        version=_version(),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        default_response_class=JsonResponse,
    )
    app.state.services = services
    problems.install(app)
    # security headers on every answer; CORS only when RELAYFLOW_CORS_ORIGINS is set
    headers.install(app, CorsSettings.from_env())
    schemas.install(app)
    # webhooks first: the hot path should not be matched against every API route before (S1)
    app.include_router(webhooks.router)
    app.include_router(waiting.router)
    # then the probes: a load balancer calls them often, and each router before them costs a
    # match (/healthz after every API router took 50 µs more)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # each straight into the app: a router included without a prefix has its routes built at
    # once to check their paths, and built again on the first request (S11)
    for module in (workflows, executions, binary_data, events, node_types, auth, users, audit, projects):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(authenticate)])
    for cred_router in (credentials.router, credentials.types_router):
        app.include_router(cred_router, prefix=API_PREFIX, dependencies=[Depends(authenticate)])
    # public: the one-time setup of the owner, login and refresh
    app.include_router(auth.public_router, prefix=API_PREFIX)
    # public: the OAuth2 authorization server returns the browser here (the sealed state is
    # what authenticates it)
    app.include_router(credentials.callback_router)
    return app
