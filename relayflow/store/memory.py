"""In-memory workflow and execution stores: the unit tests' fakes and the reference the SQL stores
are held to by the contract suite (tests/contract)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun
from relayflow.errors import Conflict, NotFound
from relayflow.store.common import (
    accepts_call,
    check_limit,
    clean_tags,
    decode_cursor,
    encode_cursor,
    new_version_id,
    new_workflow_id,
    parked_of,
    synced_data,
    utc,
    workflow_name,
)
from relayflow.store.ports import (
    ExecutionQuery,
    Page,
    ParkedExecution,
    StoredWorkflow,
    WorkflowQuery,
    WorkflowVersion,
)

T = TypeVar("T")


def paginate(
    rows: Iterable[T], key: Callable[[T], tuple[datetime, str]], limit: int, cursor: str | None
) -> Page[T]:
    """Newest first by ``key`` (time, id); the cursor is the key of the last row handed out."""
    ordered = sorted(rows, key=key, reverse=True)
    if cursor is not None:
        after = decode_cursor(cursor)
        ordered = [r for r in ordered if key(r) < after]
    page = ordered[: check_limit(limit)]
    more = len(ordered) > len(page)
    return Page(items=page, next_cursor=encode_cursor(*key(page[-1])) if more else None)


class MemoryWorkflowStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._rows: dict[str, StoredWorkflow] = {}
        self._versions: dict[str, list[WorkflowVersion]] = {}
        self._static: dict[str, dict[str, Any]] = {}

    def _now(self) -> datetime:
        return utc(self._clock.now())

    async def create(self, data: dict[str, Any], *, tags: Sequence[str] = ()) -> StoredWorkflow:
        wf_id = new_workflow_id()
        while wf_id in self._rows:
            wf_id = new_workflow_id()
        now = self._now()
        active = bool(data.get("active", False)) if isinstance(data, dict) else False
        row = self._saved(wf_id, data, now, now, active, clean_tags(tags))
        self._versions[wf_id] = []
        return self._keep(row)

    def _saved(
        self, wf_id: str, data: dict[str, Any], created: datetime, now: datetime, active: bool, tags: Any
    ) -> StoredWorkflow:
        name = workflow_name(data) if isinstance(data, dict) else ""
        version_id = new_version_id()
        synced = synced_data(data, id_=wf_id, name=name, active=active, version_id=version_id)
        return StoredWorkflow(wf_id, name, active, version_id, created, now, tags, copy.deepcopy(synced))

    def _keep(self, row: StoredWorkflow) -> StoredWorkflow:
        self._rows[row.id] = row
        version = WorkflowVersion(row.id, row.version_id, row.updated_at, row.name, row.data)
        self._versions[row.id].append(version)
        return _copy(row)

    async def get(self, workflow_id: str) -> StoredWorkflow | None:
        row = self._rows.get(workflow_id)
        if row is None:
            return None
        stored = _copy(row)
        if workflow_id in self._static:
            stored.data["staticData"] = copy.deepcopy(self._static[workflow_id])
        return stored

    async def find(self, query: WorkflowQuery) -> Page[StoredWorkflow]:
        rows: Iterable[StoredWorkflow] = self._rows.values()
        if query.ids is not None:
            rows = [r for r in rows if r.id in query.ids]
        if query.name:
            needle = query.name.casefold()
            rows = [r for r in rows if needle in r.name.casefold()]
        if query.tag is not None:
            rows = [r for r in rows if query.tag in r.tags]
        if query.active is not None:
            rows = [r for r in rows if r.active is query.active]
        page = paginate(rows, lambda r: (r.updated_at, r.id), query.limit, query.cursor)
        return Page([_copy(r) for r in page.items], page.next_cursor)

    async def update(
        self,
        workflow_id: str,
        data: dict[str, Any],
        *,
        expected_version: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> StoredWorkflow:
        old = self._existing(workflow_id)
        if expected_version is not None and expected_version != old.version_id:
            raise Conflict(f"workflow {workflow_id} was changed since version {expected_version}")
        new_tags = old.tags if tags is None else clean_tags(tags)
        row = self._saved(workflow_id, data, old.created_at, self._now(), old.active, new_tags)
        return self._keep(row)

    async def set_active(self, workflow_id: str, active: bool) -> StoredWorkflow:
        old = self._existing(workflow_id)
        data = {**old.data, "active": active}
        row = dataclasses.replace(old, active=active, updated_at=self._now(), data=data)
        self._rows[workflow_id] = row
        return _copy(row)

    def _existing(self, workflow_id: str) -> StoredWorkflow:
        row = self._rows.get(workflow_id)
        if row is None:
            raise NotFound(f"no workflow {workflow_id!r}")
        return row

    async def delete(self, workflow_id: str) -> bool:
        self._versions.pop(workflow_id, None)
        self._static.pop(workflow_id, None)
        return self._rows.pop(workflow_id, None) is not None

    async def save_static_data(self, workflow_id: str, data: Mapping[str, Any]) -> None:
        if workflow_id in self._rows:
            self._static[workflow_id] = copy.deepcopy(dict(data))

    async def load_static_data(self, workflow_id: str) -> dict[str, Any] | None:
        kept = self._static.get(workflow_id)
        return copy.deepcopy(kept) if kept is not None else None

    async def versions(self, workflow_id: str) -> list[WorkflowVersion]:
        self._existing(workflow_id)
        return [dataclasses.replace(v, data={}) for v in reversed(self._versions[workflow_id])]

    async def version(self, workflow_id: str, version_id: str) -> WorkflowVersion | None:
        for v in self._versions.get(workflow_id, []):
            if v.version_id == version_id:
                return dataclasses.replace(v, data=copy.deepcopy(v.data))
        return None

    async def close(self) -> None:
        return None


def _copy(row: StoredWorkflow) -> StoredWorkflow:
    return dataclasses.replace(row, data=copy.deepcopy(row.data))


class MemoryExecutionStore:
    """Keeps a snapshot of each record as of the engine's last call (node runs are shared, not
    copied: the engine does not change a run once it reported it finished)."""

    def __init__(self) -> None:
        self._records: dict[str, ExecutionRecord] = {}
        self._parked: dict[str, ParkedExecution] = {}

    def _snapshot(self, record: ExecutionRecord) -> None:
        self._records[record.id] = dataclasses.replace(
            record, node_runs=list(record.node_runs), result=dict(record.result)
        )

    async def execution_started(self, record: ExecutionRecord) -> None:
        self._snapshot(record)

    async def node_run_finished(self, record: ExecutionRecord, run: NodeRun) -> None:
        self._snapshot(record)

    async def execution_finished(self, record: ExecutionRecord) -> None:
        self._snapshot(record)
        if record.status == ExecutionStatus.WAITING:
            self._parked[record.id] = parked_of(record, datetime.now(UTC))

    async def get(self, execution_id: str) -> ExecutionRecord | None:
        rec = self._records.get(execution_id)
        return dataclasses.replace(rec, node_runs=list(rec.node_runs), result={}) if rec else None

    async def find(self, query: ExecutionQuery) -> Page[ExecutionRecord]:
        rows: Iterable[ExecutionRecord] = self._records.values()
        if query.workflow_id is not None:
            rows = [r for r in rows if r.workflow_id == query.workflow_id]
        if query.workflow_ids is not None:
            rows = [r for r in rows if r.workflow_id in query.workflow_ids]
        if query.status is not None:
            rows = [r for r in rows if r.status == query.status]
        if query.started_after is not None:
            after = utc(query.started_after)
            rows = [r for r in rows if utc(r.started_at) >= after]
        if query.started_before is not None:
            before = utc(query.started_before)
            rows = [r for r in rows if utc(r.started_at) < before]
        page = paginate(rows, lambda r: (utc(r.started_at), r.id), query.limit, query.cursor)
        items = [dataclasses.replace(r, node_runs=[], result={}) for r in page.items]
        return Page(items, page.next_cursor)

    async def delete(self, execution_id: str) -> bool:
        self._parked.pop(execution_id, None)
        return self._records.pop(execution_id, None) is not None

    async def parked(self, *, after: str | None = None, limit: int = 1000) -> list[ParkedExecution]:
        ids = sorted(i for i in self._parked if after is None or i > after)
        return [self._parked[i] for i in ids[: check_limit(limit)]]

    async def parked_one(self, execution_id: str) -> ParkedExecution | None:
        return self._parked.get(execution_id)

    async def claim_parked(
        self, execution_id: str, *, due_by: datetime | None = None
    ) -> ParkedExecution | None:
        wait = self._parked.get(execution_id)
        if wait is None or (due_by is not None and (wait.due_at is None or wait.due_at > utc(due_by))):
            return None
        return self._parked.pop(execution_id)

    async def take_parked(
        self, execution_id: str, *, due_by: datetime | None = None, method: str | None = None
    ) -> tuple[ParkedExecution, ExecutionRecord] | None:
        found = self._parked.get(execution_id)
        if found is None or not accepts_call(found, method):
            return None
        wait = await self.claim_parked(execution_id, due_by=due_by)
        record = await self.get(execution_id) if wait is not None else None
        return (wait, record) if wait is not None and record is not None else None

    async def prune(self, *, before: datetime | None, keep_newest: int | None, limit: int) -> int:
        def key(r: ExecutionRecord) -> tuple[datetime, str]:
            return (utc(r.started_at), r.id)

        newest = sorted(self._records.values(), key=key, reverse=True)
        kept = {r.id for r in newest[:keep_newest]} if keep_newest is not None else None
        cutoff = utc(before) if before is not None else None
        doomed = [
            r
            for r in reversed(newest)
            if ExecutionStatus(r.status).terminal
            and (
                (cutoff is not None and utc(r.started_at) < cutoff) or (kept is not None and r.id not in kept)
            )
        ][:limit]
        for r in doomed:
            del self._records[r.id]
        return len(doomed)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None
