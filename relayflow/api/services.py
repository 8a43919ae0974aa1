"""What the API runs on: the stores, the engine, and the tracker of background runs."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import User
from relayflow.access.service import AccessService
from relayflow.api.event_hub import EventHub
from relayflow.binary.cleanup import BinaryJanitor
from relayflow.credentials.service import CredentialService
from relayflow.credentials.vault import StoreCredentialVault
from relayflow.engine.executor import Engine
from relayflow.engine.ports import EventSink
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import InputInvalid
from relayflow.http_session import SharedSession
from relayflow.metrics import Metrics
from relayflow.nodes.registry import Registry
from relayflow.runtime import FileWorkflowLoader, build_engine
from relayflow.security.secrets import Keyring
from relayflow.settings import env_int
from relayflow.store.idempotency import IdempotencyStore, MemoryIdempotencyStore
from relayflow.store.policy import SavePolicyStore, record_settings
from relayflow.store.ports import ExecutionQuery, ExecutionStore, WorkflowQuery, WorkflowStore
from relayflow.store.save_policy import SaveDefaults
from relayflow.store.webhook_registry import MemoryWebhookRegistry, WebhookRegistry
from relayflow.triggers.waits import WaitTimers
from relayflow.triggers.webhooks import RouteTable
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow

log = logging.getLogger("relayflow.api")

STARTED_EVENT = "execution.started"
FINISHED_EVENT = "execution.finished"
WAITING_EVENT = "execution.waiting"


class RunTracker:
    """Keeps the executions started through the API, as tasks in a set.

    It is also the engine's ``EventSink``: ``execution.started`` (sent once the store recorded
    the start) releases whoever waits in ``start``; every event is published to ``hub`` (the
    live event streams) and goes on to ``downstream``. Executions' starts and ends feed
    ``metrics``; so do the node runs of the executions it keeps.
    """

    def __init__(
        self, downstream: EventSink | None = None, hub: EventHub | None = None, metrics: Metrics | None = None
    ) -> None:
        self.metrics = metrics or Metrics()
        self.downstream = downstream
        self.hub = hub or EventHub()
        self._tasks: dict[str, asyncio.Task[ExecutionRecord]] = {}
        self._started: dict[str, asyncio.Future[None]] = {}
        # told of every execution that parks with a timer: (execution id, due time)
        self.on_waiting: Callable[[str, datetime], None] | None = None

    def emit(self, event: str, data: Mapping[str, Any]) -> None:
        if event == STARTED_EVENT:
            waiter = self._started.pop(str(data.get("executionId")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            self.metrics.execution_started(str(data.get("executionId")), str(data.get("mode")))
        elif event == FINISHED_EVENT:
            self.metrics.execution_finished(str(data.get("executionId")), str(data.get("status")))
        elif event == WAITING_EVENT:
            # this stretch of the execution ended: it counts as "waiting" until it resumes
            self.metrics.execution_finished(str(data.get("executionId")), "waiting")
            due = data.get("waitTill")
            if self.on_waiting is not None and isinstance(due, str):
                self.on_waiting(str(data["executionId"]), datetime.fromisoformat(due))
        elif event == "node.finished" and "type" in data:
            self.metrics.node_ran(str(data["type"]), float(data.get("durationMs", 0.0)) / 1000)
        self.hub.emit(event, data)
        if self.downstream is not None:
            self.downstream.emit(event, data)

    async def start(
        self,
        execution_id: str,
        run: Coroutine[Any, Any, ExecutionRecord],
    ) -> asyncio.Task[ExecutionRecord]:
        """Run ``run`` in the background; return once its start is recorded (or it ended)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._started[execution_id] = waiter
        task = asyncio.create_task(run, name=f"execution {execution_id}")
        self._tasks[execution_id] = task
        task.add_done_callback(self._forget)
        try:
            either: list[asyncio.Future[Any]] = [waiter, task]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._started.pop(execution_id, None)
            waiter.cancel()
        if task.done() and task.exception() is not None:
            task.result()  # it failed before its start was recorded: raise that here
        return task

    def _forget(self, task: asyncio.Task[ExecutionRecord]) -> None:
        for key, value in list(self._tasks.items()):
            if value is task:
                del self._tasks[key]
                self.metrics.execution_crashed(key)
        if not task.cancelled() and task.exception() is not None:
            log.error("execution task failed", exc_info=task.exception())

    def task(self, execution_id: str) -> asyncio.Task[ExecutionRecord] | None:
        return self._tasks.get(execution_id)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_s: float, engine: Engine, hurry: asyncio.Event | None = None) -> int:
        """Let running executions finish within ``grace_s`` (or until ``hurry`` is set), then
        cancel the rest. Returns how many were cancelled."""
        tasks = dict(self._tasks)
        if not tasks:
            return 0
        hurry = hurry or asyncio.Event()
        hurried = asyncio.ensure_future(hurry.wait())
        pending: set[asyncio.Future[Any]] = set(tasks.values())
        deadline = asyncio.get_running_loop().time() + max(grace_s, 0.0)
        try:
            while pending and not hurry.is_set():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                _, pending = await asyncio.wait(
                    pending | {hurried}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(hurried)
        finally:
            hurried.cancel()
        late = [eid for eid, t in tasks.items() if t in pending]
        for eid in late:
            if not engine.cancel(eid):
                tasks[eid].cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        return len(late)


class StoreWorkflowLoader:
    """Sub-workflows by database id come from the workflow store; other sources as in the CLI."""

    def __init__(self, workflows: WorkflowStore, registry: Registry | None = None) -> None:
        self.workflows = workflows
        self.registry = registry
        self.files = FileWorkflowLoader(Path.cwd(), registry)

    async def load(self, source: str, ref: Any) -> Workflow:
        if source != "database":
            return await self.files.load(source, ref)
        wanted = str(ref.get("value") if isinstance(ref, dict) else ref)
        stored = await self.workflows.get(wanted)
        if stored is None:
            raise InputInvalid(f"no workflow with id {wanted!r}")
        return parse_workflow(stored.data, source=f"workflow {wanted}", registry=self.registry)


class WorkflowCache:
    """Parsed workflows by (id, version): what a resumed execution runs (the version it started
    on). A hit costs no read; the engine then reuses the graph and parameter plans it built for
    that Workflow object. Cleared whenever a workflow changes (``workflows_changed``), so a
    deleted workflow is not run from here and ``version=None`` (the current one) stays current.
    """

    def __init__(self, workflows: WorkflowStore, registry: Registry | None, size: int = 256) -> None:
        self.workflows = workflows
        self.registry = registry
        self.size = size
        self._parsed: dict[tuple[str, str | None], Workflow] = {}
        self._generation = 0

    def clear(self) -> None:
        self._parsed.clear()
        self._generation += 1

    async def get(self, workflow_id: str, version_id: str | None = None) -> Workflow | None:
        key = (workflow_id, version_id)
        wf = self._parsed.get(key)
        if wf is not None:
            return wf
        generation = self._generation
        stored = await self.workflows.get(workflow_id)
        if stored is None:
            return None
        data = stored.data
        if version_id is not None and version_id != stored.version_id:
            old = await self.workflows.version(workflow_id, version_id)
            if old is not None:  # that version's graph, today's static data
                data = {**old.data, "staticData": stored.data.get("staticData")}
        wf = parse_workflow(data, source=f"workflow {workflow_id}", registry=self.registry)
        if generation == self._generation:  # no change came in while it was read
            if len(self._parsed) >= self.size:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[key] = wf
        return wf


def ephemeral_access() -> AccessService:
    """Users, keys and credentials in memory under a key made for this process (tests, tools);
    the server passes one on its database and its keyring."""
    return AccessService(MemoryAccessStore(), Keyring.of([secrets.token_bytes(32)]))


@dataclass
class ApiServices:
    workflows: WorkflowStore
    executions: ExecutionStore
    engine: Engine
    runs: RunTracker
    # webhook routes of the active workflows; built from the store on first use (see webhooks.py)
    routes: RouteTable = field(default_factory=RouteTable)
    routes_loaded: bool = False
    routes_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # one-shot webhooks armed for a test (/webhook-test/...), whether the workflow is active or not
    test_routes: RouteTable = field(default_factory=RouteTable)
    # execution id → the Future that Respond to Webhook resolves (shared with the engine)
    webhook_responses: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    # webhook requests admitted but whose execution has not started yet
    admitting: int = 0
    max_in_flight: int = field(default_factory=lambda: env_int(os.environ, "RELAYFLOW_MAX_IN_FLIGHT", 256))
    max_body_bytes: int = field(
        default_factory=lambda: env_int(os.environ, "RELAYFLOW_WEBHOOK_MAX_BODY_BYTES", 16 * 1024 * 1024)
    )

    # called after a workflow is saved, deleted or (de)activated (server.py: the scheduler's wake)
    on_workflows_changed: Callable[[], None] | None = None
    # the timers of parked executions (api/waiting.py resumes them); started by start_waits
    timers: WaitTimers | None = None
    # parsed workflows by version (resumed executions use it)
    parsed: WorkflowCache | None = None
    # deletes binary data whose execution is gone (relayflow/binary/cleanup.py)
    janitor: BinaryJanitor | None = None
    # which workflow holds each webhook (method, path): the rule across processes (the route
    # table above is this process's copy); the server puts the database's here
    webhook_registry: WebhookRegistry = field(default_factory=MemoryWebhookRegistry)
    # the executions that production webhooks' Idempotency-Keys started (api/webhook_idempotency.py);
    # the server puts the database's here
    idempotency: IdempotencyStore = field(default_factory=MemoryIdempotencyStore)
    # users, projects, API keys, credentials, the audit log (relayflow/access)
    access: AccessService = field(default_factory=ephemeral_access)
    # credentials over ``access`` (relayflow/credentials); build_services makes it, and the same
    # service backs the engine's vault so that a change made through the API drops its cache
    credentials: CredentialService | None = None
    # called once the first user (the owner) exists: adopts the objects made before (api/auth.py)
    on_owner_created: Callable[[User], Awaitable[None]] | None = None

    @property
    def registry(self) -> Registry:
        return self.engine.services.registry

    @property
    def metrics(self) -> Metrics:
        """What ``GET /metrics`` exposes (api/metrics.py)."""
        return self.runs.metrics

    @property
    def events(self) -> EventHub:
        """The live events of the executions run here (api/events.py streams them)."""
        return self.runs.hub

    def workflows_changed(self) -> None:
        if self.parsed is not None:
            self.parsed.clear()
        if self.credentials is not None:
            # a workflow that moved project resolves its credentials in the new one at once
            self.credentials.changed()
        if self.on_workflows_changed is not None:
            self.on_workflows_changed()

    async def ready(self) -> None:
        """Raises when a store does not answer."""
        await self.workflows.find(WorkflowQuery(limit=1))
        await self.executions.find(ExecutionQuery(limit=1))


def observed(events: EventSink | None, role: str = "server") -> EventSink | None:
    """``events`` behind the opt-in observability sinks (docs/observability.md): spans when
    tracing is configured (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``RELAYFLOW_TRACING=1``), the log
    context when ``RELAYFLOW_LOG_FORMAT=json``. Nothing is imported unless one is asked for."""
    env = os.environ
    if (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or env.get("RELAYFLOW_TRACING")
    ):
        from relayflow.observability.tracing import TracingSink, ensure_tracing, tracing_configured

        if tracing_configured(env):
            ensure_tracing(role)
            return TracingSink(downstream=events)
    if env.get("RELAYFLOW_LOG_FORMAT"):
        from relayflow.observability.context import ContextSink
        from relayflow.observability.logs import json_logs_requested

        if json_logs_requested(env):
            return ContextSink(downstream=events)
    return events


def build_services(
    workflows: WorkflowStore,
    executions: ExecutionStore,
    *,
    registry: Registry | None = None,
    events: EventSink | None = None,
    save_defaults: SaveDefaults | None = None,
    webhook_registry: WebhookRegistry | None = None,
    access: AccessService | None = None,
    **engine_overrides: Any,
) -> ApiServices:
    """Wire an engine whose RunStore is ``executions`` (under the workflows' save settings, with
    ``save_defaults`` or the environment's) and whose events go through a RunTracker."""
    executions = SavePolicyStore(executions, record_settings, save_defaults)
    runs = RunTracker(downstream=observed(events))
    responses: dict[str, asyncio.Future[Any]] = {}
    engine_overrides.setdefault("durable_waits", True)
    # one pooled HTTP session for every HTTP Request node run (closed by close_services)
    engine_overrides.setdefault("http", SharedSession())
    engine_overrides.setdefault("static_data", workflows)

    def current_access() -> AccessService:
        # read at each use: ``services.access`` may be replaced after this returns
        return services.access

    credentials = CredentialService(current_access)
    engine_overrides.setdefault("credentials", StoreCredentialVault(credentials))
    engine = build_engine(
        webhook_responses=responses,
        registry=registry,
        store=executions,
        events=runs,
        workflows=StoreWorkflowLoader(workflows, registry),
        **engine_overrides,
    )
    janitor = BinaryJanitor(engine.services.binary, executions)
    executions.on_discard = janitor.discarded
    services = ApiServices(
        workflows=workflows,
        executions=executions,
        engine=engine,
        runs=runs,
        webhook_responses=responses,
        parsed=WorkflowCache(workflows, registry),
        credentials=credentials,
        janitor=janitor,
    )
    if webhook_registry is not None:
        services.webhook_registry = webhook_registry
    if access is not None:
        services.access = access

    async def resume(execution_id: str, due: datetime) -> None:
        from relayflow.api.waiting import resume_due

        await resume_due(services, execution_id, due)

    timers = WaitTimers(resume, engine.services.clock)
    services.timers = timers
    runs.on_waiting = timers.add

    async def owner_created(user: User) -> None:
        from relayflow.api.authz import adopt_unowned_workflows

        await adopt_unowned_workflows(services, user)

    services.on_owner_created = owner_created
    return services


async def start_waits(services: ApiServices) -> int:
    """Load the stored waits' timers (those parked before a restart) and start firing them."""
    assert services.timers is not None
    count = await services.timers.load(services.executions)
    services.timers.start()
    return count
