"""The run record: what an execution did, node by node."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from relayflow.engine.items import NodeOutput


class ExecutionStatus(StrEnum):
    NEW = "new"
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = {
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.CRASHED,
}


class NodeRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # failed, but onError let the workflow go on
    CONTINUED = "continued"
    CANCELLED = "cancelled"
    # output replaced by pinData
    PINNED = "pinned"
    # disabled: items passed through
    DISABLED = "disabled"


class Park(Exception):
    """Raised by a node (``NodeContext.park``) to park the execution until a time or a call.

    ``until`` is when a timer resumes it (None: only a call does); ``webhook`` holds what the
    resume URL accepts and answers when the node waits for a call (None: a timer only).
    """

    def __init__(self, until: datetime | None, webhook: Mapping[str, Any] | None = None) -> None:
        super().__init__("park")
        self.until = until
        self.webhook = dict(webhook) if webhook is not None else None


@dataclass(frozen=True)
class Source:
    """Where one input of a node run came from."""

    node: str
    output: int
    run: int


@dataclass
class NodeRun:
    node: str
    run_index: int
    status: NodeRunStatus
    started_at: datetime
    finished_at: datetime | None = None
    items_in: list[int] = field(default_factory=list)
    # items per output, the error output included
    items_out: list[int] = field(default_factory=list)
    output: NodeOutput | None = None
    error: dict[str, Any] | None = None
    tries: int = 1
    source: list[Source | None] = field(default_factory=list)
    # captured console output (Code nodes)
    logs: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds() * 1000

    def to_dict(self, *, with_data: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "node": self.node,
            "runIndex": self.run_index,
            "status": self.status.value,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "durationMs": round(self.duration_ms, 3),
            "itemsIn": self.items_in,
            "itemsOut": self.items_out,
            "tries": self.tries,
            "source": [
                {"node": s.node, "output": s.output, "run": s.run} if s else None for s in self.source
            ],
        }
        if self.error is not None:
            d["error"] = self.error
        if self.logs:
            d["logs"] = self.logs
        if with_data and self.output is not None:
            d["output"] = self.output
        return d


@dataclass
class ExecutionRecord:
    id: str
    workflow_id: str | None
    workflow_name: str
    mode: str
    status: ExecutionStatus
    started_at: datetime
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    node_runs: list[NodeRun] = field(default_factory=list)
    # the terminal nodes' outputs, filled when the execution ends
    result: dict[str, NodeOutput] = field(default_factory=dict)
    last_node: str | None = None
    # the execution this one retries
    retry_of: str | None = None
    # the workflow version that ran (its ``versionId``), when it has one; not stored with the
    # execution, but with its wait (a parked execution resumes on the version it started on)
    workflow_version: str | None = None
    # status WAITING: the earliest time a timer resumes it, and each parked node as
    # {"node", "runIndex", "until" (ISO 8601 or None), "webhook" (dict or None)}
    wait_till: datetime | None = None
    waiting: list[dict[str, Any]] = field(default_factory=list)
    # the workflow's settings beyond the engine's own (n8n's save settings...), for the stores;
    # not part of the stored record
    settings: Mapping[str, Any] = field(default_factory=dict)

    def output_json(self) -> Any:
        """The terminal nodes' output as ``relayflow run`` prints it.

        One terminal node that ran: the list of its items' ``json``. Several: an object keyed by
        node name. A terminal node's items are those of its main output across all its runs.
        """
        shaped = {name: [it.get("json", {}) for it in out[0]] for name, out in self.result.items()}
        if len(shaped) == 1:
            return next(iter(shaped.values()))
        return shaped

    def runs_of(self, node: str) -> list[NodeRun]:
        return [r for r in self.node_runs if r.node == node]

    def to_dict(self, *, with_data: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflowId": self.workflow_id,
            "workflowName": self.workflow_name,
            "mode": self.mode,
            "status": self.status.value,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "lastNode": self.last_node,
            "retryOf": self.retry_of,
            "waitTill": self.wait_till.isoformat() if self.wait_till else None,
            "nodeRuns": [r.to_dict(with_data=with_data) for r in self.node_runs],
        }
