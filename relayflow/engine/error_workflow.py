"""Error workflows: when an execution fails, ``settings.errorWorkflow`` runs from its Error Trigger
with the failed execution's details (n8n's item shape)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from relayflow.engine.run import ExecutionRecord
from relayflow.errors import RelayflowError
from relayflow.workflow.model import Workflow

if TYPE_CHECKING:
    from relayflow.engine.executor import Engine

log = logging.getLogger("relayflow.engine")


async def run_error_workflow(engine: Engine, failed: ExecutionRecord, workflow: Workflow) -> None:
    """Run ``settings.errorWorkflow`` from its Error Trigger with the failed execution's details."""
    ref = workflow.settings.errorWorkflow
    loader = engine.services.workflows
    try:
        if loader is None:
            raise LookupError("no workflow loader is configured")
        target = await loader.load("database", ref)
        start = next(
            (
                g.name
                for g in engine.graph(target).triggers()
                if g.resolved.spec.type == "relayflow.errorTrigger"
            ),
            None,
        )
        if start is None:
            raise LookupError(f"workflow {ref!r} has no Error Trigger node")
    except (LookupError, RelayflowError) as exc:
        log.warning("error workflow %r of %r not run: %s", ref, workflow.name, exc)
        return
    error = dict(failed.error or {})
    item = {
        "execution": {
            "id": failed.id,
            "url": f"{engine.services.base_url}/execution/{failed.id}",
            "retryOf": failed.retry_of,
            "error": {
                "message": error.get("message", ""),
                "code": error.get("code"),
                "node": error.get("node"),
            },
            "lastNodeExecuted": failed.last_node,
            "mode": failed.mode,
        },
        "workflow": {"id": workflow.id, "name": workflow.name},
    }
    await engine.run(target, input_items=[{"json": item}], mode="error", start_node=start)
