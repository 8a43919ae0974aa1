"""The persistence ports the server uses. The engine only knows ``RunStore``
(relayflow/engine/ports.py); ``ExecutionStore`` adds the queries the API needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from relayflow.engine.ports import RunStore
from relayflow.engine.run import ExecutionRecord, ExecutionStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is opaque and None on the last page."""

    items: Sequence[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class StoredWorkflow:
    id: str
    name: str
    active: bool
    # changes on every save; PUT/PATCH with a stale one answers 409
    version_id: str
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()
    # the workflow JSON in n8n's export shape (nodes, connections, settings, pinData, staticData...)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowVersion:
    workflow_id: str
    version_id: str
    created_at: datetime
    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowQuery:
    name: str | None = None  # case-insensitive substring
    tag: str | None = None
    active: bool | None = None
    limit: int = 50
    cursor: str | None = None
    # only these workflows (what the caller may see); None: no filter, empty: none at all
    ids: frozenset[str] | None = None


@dataclass(frozen=True)
class ExecutionQuery:
    workflow_id: str | None = None
    # only executions of these workflows (those the caller may see); None: no filter, empty: none
    workflow_ids: frozenset[str] | None = None
    status: ExecutionStatus | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    limit: int = 50
    cursor: str | None = None


class WorkflowStore(Protocol):
    """Workflows; every save keeps an immutable version."""

    async def create(self, data: dict[str, Any], *, tags: Sequence[str] = ()) -> StoredWorkflow: ...

    async def get(self, workflow_id: str) -> StoredWorkflow | None: ...

    async def find(self, query: WorkflowQuery) -> Page[StoredWorkflow]: ...

    async def update(
        self,
        workflow_id: str,
        data: dict[str, Any],
        *,
        expected_version: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> StoredWorkflow:
        """Replace the workflow; raises NotFound, or Conflict when ``expected_version`` is stale."""

    async def set_active(self, workflow_id: str, active: bool) -> StoredWorkflow: ...

    async def delete(self, workflow_id: str) -> bool: ...

    async def versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """Newest first, without ``data``. Raises NotFound for an unknown workflow."""

    async def version(self, workflow_id: str, version_id: str) -> WorkflowVersion | None: ...

    async def save_static_data(self, workflow_id: str, data: Mapping[str, Any]) -> None:
        """Keep the static data executions left (n8n's ``staticData``) without a new version;
        ``get`` returns it in ``data["staticData"]``. A deleted workflow's is dropped."""

    async def load_static_data(self, workflow_id: str) -> dict[str, Any] | None:
        """What ``save_static_data`` kept last; None when nothing was (or the workflow is gone)."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ParkedExecution:
    """A waiting execution's wait: written with its ``waiting`` status, deleted by its resume."""

    execution_id: str
    workflow_id: str | None
    # the workflow version it started on
    version_id: str | None
    # the earliest time a timer resumes it; None: only a call to its resume URL does
    due_at: datetime | None
    # whether its resume URL is open (a node waits for a call)
    webhook: bool
    # the parked nodes: {"node", "runIndex", "until" (ISO text or None), "webhook" (dict or None)}
    nodes: list[dict[str, Any]]
    created_at: datetime


class ExecutionStore(RunStore, Protocol):
    """Run records (the engine writes them through RunStore) plus the API's queries."""

    async def find(self, query: ExecutionQuery) -> Page[ExecutionRecord]:
        """Newest first; records without node run data."""

    async def delete(self, execution_id: str) -> bool: ...

    async def prune(self, *, before: datetime | None, keep_newest: int | None, limit: int) -> int:
        """Delete up to ``limit`` terminal executions, oldest first, in one transaction: those
        started before ``before`` and those not among the newest ``keep_newest`` executions (of
        any status). Running and waiting executions are never deleted. Returns how many were."""

    async def flush(self) -> None:
        """Write out anything a background writer still holds (shutdown, tests)."""

    # durable waits: ``execution_finished`` of a record with status WAITING stores its wait,
    # in the same transaction as the status
    async def parked(self, *, after: str | None = None, limit: int = 1000) -> list[ParkedExecution]:
        """Waits ordered by execution id, those after ``after`` (paging through all of them)."""

    async def parked_one(self, execution_id: str) -> ParkedExecution | None: ...

    async def claim_parked(
        self, execution_id: str, *, due_by: datetime | None = None
    ) -> ParkedExecution | None:
        """Delete and return the wait, only for its first claimer (so it resumes once); with
        ``due_by``, only when a timer is due by then."""

    async def take_parked(
        self, execution_id: str, *, due_by: datetime | None = None, method: str | None = None
    ) -> tuple[ParkedExecution, ExecutionRecord] | None:
        """``claim_parked``, and the execution's record with its node runs, in one go; with
        ``method``, only when a parked node waits for a call with that HTTP method."""

    async def close(self) -> None: ...


class FiredSlotStore(Protocol):
    """Which schedule slots have fired: the rule that makes a slot fire at most once.

    A slot is one fire time of one schedule node; rules that fire at the same instant share it
    (``slot_key`` names it). ``claim`` is decided by the store's uniqueness rule, not by a lock,
    so any number of schedulers can share the store.
    """

    async def claim(self, workflow_id: str, node: str, slot_key: str, fire_at: datetime) -> bool:
        """True only for the first claimer of the slot at ``fire_at`` of (workflow, node).
        False also when the workflow no longer exists."""

    async def claim_many(self, slots: Sequence[tuple[str, str, datetime]]) -> list[bool]:
        """``claim`` for each (workflow_id, node, fire_at), in one round trip where the store
        can; the answers in the same order."""

    async def last_fired(self, workflow_id: str, node: str) -> datetime | None:
        """The latest claimed slot time of (workflow, node), or None."""

    async def close(self) -> None: ...
