"""The engine's ports: the only ways it reaches the world.

The engine imports no database, broker or cache driver. The composition root hands it
implementations of these protocols; ``relayflow.engine.memory`` has the in-memory ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from relayflow.engine.run import ExecutionRecord, NodeRun

if TYPE_CHECKING:
    from relayflow.workflow.model import Workflow


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RunStore(Protocol):
    """Where run records go. Calls arrive in order for one execution."""

    async def execution_started(self, record: ExecutionRecord) -> None: ...

    async def node_run_finished(self, record: ExecutionRecord, run: NodeRun) -> None: ...

    async def execution_finished(self, record: ExecutionRecord) -> None: ...

    async def get(self, execution_id: str) -> ExecutionRecord | None: ...


class EventSink(Protocol):
    """Live execution events; must not block (queue work if needed)."""

    def emit(self, event: str, data: Mapping[str, Any]) -> None: ...


class WorkflowLoader(Protocol):
    """Finds the workflow a sub-workflow call names (file path, id, or inline JSON)."""

    async def load(self, source: str, ref: Any) -> Workflow: ...


class StaticDataStore(Protocol):
    """Where a workflow's static data (``$getWorkflowStaticData``) is kept between executions."""

    async def save_static_data(self, workflow_id: str, data: Mapping[str, Any]) -> None: ...


class CredentialVault(Protocol):
    """Credentials for nodes. ``ref`` is the node's ``credentials[type_]`` (n8n's ``{"id", "name"}``);
    only credentials the workflow's project owns or was shared are handed out: anything else
    raises ``CredentialUnavailable``."""

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]: ...
