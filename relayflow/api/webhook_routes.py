"""Which webhook routes the active workflows hold: built from the store, kept in ``services.routes``.

Every enabled Webhook node of an active workflow registers its path (the node's ``webhookId``
when the path is empty) once per HTTP method. A path held by another active workflow is a
``Conflict`` (409) and leaves the table as it was.

Each registration carries a ``ParsedWorkflow`` (``options["workflow"]``): the workflow parsed once,
so a webhook call neither reads nor parses it. Any change to a workflow registers new routes, so
a cached workflow never outlives the version its routes were made from.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from relayflow.api.bodies import strip_meta
from relayflow.api.services import ApiServices
from relayflow.api.webhook_auth import WebhookGuard
from relayflow.errors import Conflict, InputInvalid, RelayflowError
from relayflow.nodes.registry import Registry
from relayflow.nodes.triggers import WEBHOOK, WebhookParams
from relayflow.store.ports import WorkflowQuery
from relayflow.triggers.webhooks import Registration, RouteTable
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow

log = logging.getLogger("relayflow.api")


class ParsedWorkflow:
    """The stored workflow a route runs, parsed on first use and kept while it is still the one
    the route was registered from: a request that reads the store in the moment between a change
    of routes and the store's update (``save``) runs what it read, but does not keep it."""

    def __init__(self, registered: dict[str, Any]) -> None:
        self._registered = strip_meta(registered)
        self.workflow: Workflow | None = None

    def offer(self, stored: dict[str, Any], wf: Workflow) -> None:
        if strip_meta(stored) == self._registered:
            self.workflow = wf


def registrations(workflow_id: str, data: dict[str, Any], registry: Registry) -> list[Registration]:
    """The routes of the workflow's enabled Webhook nodes; raises on an invalid node."""
    wf = parse_workflow(data, source=f"workflow {workflow_id}", registry=registry)
    parsed = ParsedWorkflow(data)
    out: list[Registration] = []
    for node in wf.nodes:
        if node.disabled:
            continue
        resolved = registry.resolve(node.type, node.typeVersion)
        if resolved.spec.type != WEBHOOK.type:
            continue
        params = WebhookParams.model_validate(resolved.parameters(node.parameters))
        # its authentication and IP allow-list (webhook_auth.py); what cannot be enforced is refused
        guard = WebhookGuard.of(workflow_id, node, params)
        path = params.path or str(getattr(node, "webhookId", "") or "")
        if not path:
            raise InputInvalid(f"the Webhook node {node.name!r} has no path")
        options = {"params": params, "workflow": parsed, "guard": guard}
        out.extend(Registration(m, path, workflow_id, node.name, options) for m in params.methods())
    return out


def replace(
    table: RouteTable, workflow_id: str, new: Sequence[Registration], old: Sequence[Registration] = ()
) -> None:
    """Swap the workflow's routes for ``new``; on a Conflict put ``old`` back and raise."""
    table.remove_workflow(workflow_id)
    try:
        for reg in new:
            table.add(reg)
    except Conflict:
        table.remove_workflow(workflow_id)
        for reg in old:
            table.add(reg)
        raise


async def load_routes(services: ApiServices) -> RouteTable:
    """The route table, built from the active workflows the first time it is needed."""
    if services.routes_loaded:
        return services.routes
    async with services.routes_lock:
        if not services.routes_loaded:
            await _rebuild(services)
            services.routes_loaded = True
    return services.routes


async def _rebuild(services: ApiServices) -> None:
    cursor: str | None = None
    while True:
        page = await services.workflows.find(WorkflowQuery(active=True, limit=250, cursor=cursor))
        for stored in page.items:
            try:
                regs = registrations(stored.id, stored.data, services.registry)
                # the registry (database) is the rule across processes: claim what is ours
                await services.webhook_registry.register(
                    stored.id, [(r.method, r.path, r.node) for r in regs]
                )
                replace(services.routes, stored.id, regs)
            except RelayflowError as exc:  # one bad workflow must not keep the others offline
                log.error("webhooks of workflow %s not registered: %s", stored.id, exc)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
