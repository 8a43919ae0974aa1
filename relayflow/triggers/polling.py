"""Polling triggers: nodes that look for new data on a schedule (n8n's ``polling: true`` nodes).

A node spec with a ``poll`` coroutine is a polling trigger. Its ``pollTimes`` parameter (the item
shapes of n8n's Cron ``triggerTimes``; every minute when absent) becomes schedule rules, and the
scheduler treats each poll slot as any other slot: claimed in the ``FiredSlotStore`` first, so
every slot is polled once across any number of schedulers. At its slot ``Poller.fire``:

1. hands ``poll(ctx, params)`` the node's cursor: ``ctx.cursor`` is the dict at
   ``staticData["node:<node name>"]`` (n8n's ``getWorkflowStaticData('node')``), which the poll
   reads and updates;
2. saves the static data when the poll changed it, before anything runs (a new item is emitted
   at most once: an execution that then fails keeps its items in its record, for a retry);
3. starts an execution (mode ``trigger``) with the returned items only when there are some. An
   empty poll records nothing, as in n8n. A poll that raises records a failed execution (its
   error on the trigger node; error workflows run) and leaves the cursor as the poll left it.

Static data: the poll works on the dict the engine's executions of the workflow share, seeded
once per process from the store (``relayflow.engine.static_data``). A poll of a node whose
previous poll is still running in this process is skipped (logged). Parameters of a polling node
cannot be expressions (as for Schedule Trigger): there is no item to evaluate them against.

Run by hand (``relayflow run``, the editor), a polling node calls ``poll`` in mode ``manual`` on a
copy of the static data (nothing is kept) and emits what it returns; n8n's nodes return a sample
(the RSS Feed Trigger: the newest item).
"""

from __future__ import annotations

import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from relayflow.engine.items import Items, NodeOutput
from relayflow.engine.params import path_text
from relayflow.engine.static_data import snapshot
from relayflow.errors import NodeError, ParameterInvalid, RelayflowError
from relayflow.nodes.spec import ExecuteFn, PollFn
from relayflow.nodes.triggers import CronTime, CronTimes

if TYPE_CHECKING:
    from relayflow.engine.context import NodeContext
    from relayflow.engine.executor import Engine
    from relayflow.engine.run import ExecutionRecord
    from relayflow.workflow.model import Node, Workflow

log = logging.getLogger("relayflow.polling")

# n8n's default "Poll Times" of a polling node
DEFAULT_POLL_TIMES = CronTimes(item=[CronTime(mode="everyMinute")])

# execution id → the poll failure its trigger node reports (see ``Poller._fail``)
_FAILED_POLLS: dict[str, BaseException] = {}


def cursor_key(node_name: str) -> str:
    """Where a node's cursor lies in the workflow's static data (n8n's 'node' static data)."""
    return f"node:{node_name}"


@dataclass
class PollContext:
    """What a ``poll`` coroutine gets: its cursor, the time, HTTP and logging."""

    node_name: str
    # "trigger" (the scheduler) or "manual" (run by hand: the cursor is a throwaway copy)
    mode: str
    # this node's static data; changes are kept after a "trigger" poll
    cursor: dict[str, Any]
    # the engine's services (``http``: the shared HTTP session behind the SSRF guard; ``clock``)
    services: Any
    log: logging.Logger

    def now(self) -> datetime:
        now: datetime = self.services.clock.now()
        return now


@dataclass(frozen=True)
class PollTarget:
    """A polling node of a workflow: its ``poll`` and its validated parameters."""

    poll: PollFn
    params: BaseModel


def polls(node: Node, registry: Any) -> bool:
    """Whether ``node``'s type is a polling trigger."""
    try:
        return registry.resolve(node.type, node.typeVersion).spec.poll is not None
    except RelayflowError:
        return False


def poll_target(node: Node, registry: Any) -> PollTarget | None:
    """The polling trigger ``node`` is, or None when its type does not poll; raises
    ``ParameterInvalid`` for parameters that do not validate."""
    resolved = registry.resolve(node.type, node.typeVersion)
    spec = resolved.spec
    if spec.poll is None:
        return None
    try:
        params = spec.params.model_validate(resolved.parameters(node.parameters))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "parameters." + path_text(tuple(err["loc"]))
        raise ParameterInvalid(err["msg"], node=node.name, field=field) from None
    return PollTarget(spec.poll, params)


def poll_times_of(node: Node) -> Any:
    """The node's raw ``pollTimes`` (None: absent, n8n's default applies)."""
    return node.parameters.get("pollTimes")


def polling_execute(poll: PollFn) -> ExecuteFn:
    """The ``execute`` of a polling trigger: in an execution the scheduler started it emits the
    polled items (or reports the poll's failure); run by hand it polls in mode "manual"."""

    async def execute(ctx: NodeContext, items: Items, params: Any) -> NodeOutput:
        failed = _FAILED_POLLS.pop(ctx.execution_id, None)
        if failed is not None:
            raise failed
        if ctx.mode == "trigger":
            return [list(items)]
        scratch = copy.deepcopy(ctx.static_data.get(cursor_key(ctx.node_name)) or {})
        pctx = PollContext(ctx.node_name, "manual", scratch, ctx.services, ctx.log)
        return [list(await poll(pctx, params))]

    return execute


class Poller:
    """Runs the polls of the scheduler's polling slots (``Scheduler._execute`` calls ``fire``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # (workflow id, node) polls in progress
        self._running: set[tuple[str, str]] = set()

    async def fire(
        self, workflow: Workflow, workflow_id: str, node: str, target: PollTarget
    ) -> ExecutionRecord | None:
        """Poll once; the execution started with the new items, or None (nothing new, or skipped)."""
        key = (workflow_id, node)
        if key in self._running:
            log.warning("workflow %s node %r: the previous poll is still running; slot skipped", *key)
            return None
        self._running.add(key)
        try:  # only the poll itself: the execution it starts does not hold the next slot back
            items = await self._poll(workflow, workflow_id, node, target)
        except Exception as exc:
            return await self._fail(workflow, node, exc)
        finally:
            self._running.discard(key)
        if not items:
            return None
        return await self.engine.run(workflow, start_node=node, mode="trigger", input_items=items)

    async def _poll(self, workflow: Workflow, workflow_id: str, node: str, target: PollTarget) -> Items:
        """The poll's new items; the static data is saved if the poll changed it (even if it raised)."""
        static = await self.engine.static.shared(workflow)
        before = snapshot(static)
        cursor = static.setdefault(cursor_key(node), {})
        services = self.engine.services
        ctx = PollContext(node, "trigger", cursor, services, logging.getLogger(f"relayflow.poll.{node}"))
        try:
            return list(await target.poll(ctx, target.params))
        finally:
            await self.engine.static.save_if_changed(workflow_id, static, before)

    async def _fail(self, workflow: Workflow, node: str, exc: Exception) -> ExecutionRecord:
        """Record the failed poll as a failed execution whose trigger node raised ``exc``."""
        log.warning("workflow %s node %r: the poll failed: %s", workflow.id, node, exc)
        if isinstance(exc, RelayflowError):
            err: BaseException = exc
        else:
            err = NodeError(f"the poll failed: {type(exc).__name__}: {exc}", node=node)
        execution_id = uuid.uuid4().hex
        _FAILED_POLLS[execution_id] = err
        try:
            return await self.engine.run(
                workflow,
                start_node=node,
                mode="trigger",
                execution_id=execution_id,
                input_items=[{"json": {}}],
            )
        finally:
            _FAILED_POLLS.pop(execution_id, None)
