"""``SavePolicyStore``: an ExecutionStore that applies the workflow's save settings (save_policy.py).

What each setting does here:

- The execution row is always written at start (before ``execution_started`` returns, so a
  trigger is only acknowledged once its execution is durable), whatever the settings.
- When the execution ends and the policy says not to keep it (``saveDataSuccessExecution`` /
  ``saveDataErrorExecution`` = "none", or a manual run with ``saveManualExecutions`` false), its
  row is deleted (and its node runs with it) instead of being finished.
- ``saveExecutionProgress`` false (the default): node runs go to the inner store's background
  writer (SQL: at most 50 ms or 200 rows behind, see sql/writer.py), so ``get`` of a running
  execution shows its progress, at no cost to the engine. When the settings may drop the
  execution at its end (a "none" save setting, or a manual run not saved), node runs are held
  back instead and written with the final row by ``execution_finished``, in one transaction:
  an execution that is dropped writes no node runs at all.
- ``saveExecutionProgress`` true: each finished node run is written before the engine goes on
  (handed to the inner store, then flushed), so a crash loses no finished node and a crashed
  execution can be resumed from its node runs. It costs one write per node run.
- An execution whose status is ``waiting`` is always kept whole: every node run it has is written
  when it reaches ``waiting``, whatever the settings, since resuming it rebuilds its state from them.

The settings come from ``settings_for(record)``, looked up once when the execution starts; when
that lookup fails the instance defaults apply (logged) rather than failing the execution.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun
from relayflow.store.ports import ExecutionQuery, ExecutionStore, Page, ParkedExecution, WorkflowStore
from relayflow.store.save_policy import SaveDefaults, decide, save_progress

log = logging.getLogger("relayflow.store")

Settings = Mapping[str, Any]
SettingsLookup = Callable[[ExecutionRecord], Awaitable[Settings | None]]


def stored_settings(workflows: WorkflowStore) -> SettingsLookup:
    """Settings from the stored workflow of the record (None for file runs or unknown workflows).

    One workflow read per execution start: prefer settings the engine puts on the record."""

    async def lookup(record: ExecutionRecord) -> Settings | None:
        if record.workflow_id is None:
            return None
        stored = await workflows.get(record.workflow_id)
        settings = stored.data.get("settings") if stored is not None else None
        return settings if isinstance(settings, Mapping) else None

    return lookup


async def record_settings(record: ExecutionRecord) -> Settings | None:
    """The settings the engine put on the record (the workflow's, as it ran): no lookup."""
    return record.settings


@dataclass(frozen=True)
class _Plan:
    settings: Settings | None
    progress: bool
    # node runs go to the inner store as they finish (else they wait for the end)
    background: bool


class SavePolicyStore:
    """Wraps ``inner`` (any ExecutionStore) and delegates to it; see the module docstring."""

    def __init__(
        self, inner: ExecutionStore, settings_for: SettingsLookup, defaults: SaveDefaults | None = None
    ) -> None:
        self.inner = inner
        self.defaults = defaults or SaveDefaults.from_env()
        self._settings_for = settings_for
        # per execution between its start and its end
        self._plans: dict[str, _Plan] = {}
        # told the id of each execution whose record is dropped or deleted (its binary data goes)
        self.on_discard: Callable[[str], None] | None = None

    async def _lookup(self, record: ExecutionRecord) -> Settings | None:
        try:
            return await self._settings_for(record)
        except Exception:  # a settings lookup must not fail the execution: fall back to defaults
            log.warning("save settings of execution %s unknown; using the defaults", record.id, exc_info=True)
            return None

    async def execution_started(self, record: ExecutionRecord) -> None:
        await self.inner.execution_started(record)
        settings = await self._lookup(record)
        kept = all(
            decide(settings, record.mode, status, self.defaults)
            for status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
        )
        progress = save_progress(settings, self.defaults)
        plan = self._plans[record.id] = _Plan(settings, progress, kept)
        if plan.progress or record.status is ExecutionStatus.WAITING:
            # the runs a resumed or retried execution starts with (its checkpoint) count as finished
            await self._write_runs(record)

    async def node_run_finished(self, record: ExecutionRecord, run: NodeRun) -> None:
        plan = self._plans.get(record.id)
        if plan is None or plan.progress or plan.background or record.status is ExecutionStatus.WAITING:
            # an execution this store did not see start keeps the inner store's behaviour
            await self.inner.node_run_finished(record, run)
            if plan is not None and plan.progress:
                await self.inner.flush()

    async def _write_runs(self, record: ExecutionRecord) -> None:
        if record.node_runs:
            # the inner store writes every node run of the record it has not written yet
            await self.inner.node_run_finished(record, record.node_runs[-1])
            await self.inner.flush()

    async def execution_finished(self, record: ExecutionRecord) -> None:
        plan = self._plans.pop(record.id, None)
        settings = plan.settings if plan is not None else await self._lookup(record)
        if decide(settings, record.mode, record.status, self.defaults):
            await self.inner.execution_finished(record)
        else:
            await self.inner.delete(record.id)
            if self.on_discard is not None:
                self.on_discard(record.id)

    async def get(self, execution_id: str) -> ExecutionRecord | None:
        return await self.inner.get(execution_id)

    async def find(self, query: ExecutionQuery) -> Page[ExecutionRecord]:
        return await self.inner.find(query)

    async def delete(self, execution_id: str) -> bool:
        deleted = await self.inner.delete(execution_id)
        if deleted and self.on_discard is not None:
            self.on_discard(execution_id)
        return deleted

    async def prune(self, *, before: datetime | None, keep_newest: int | None, limit: int) -> int:
        return await self.inner.prune(before=before, keep_newest=keep_newest, limit=limit)

    async def flush(self) -> None:
        await self.inner.flush()

    async def parked(self, *, after: str | None = None, limit: int = 1000) -> list[ParkedExecution]:
        return await self.inner.parked(after=after, limit=limit)

    async def parked_one(self, execution_id: str) -> ParkedExecution | None:
        return await self.inner.parked_one(execution_id)

    async def claim_parked(
        self, execution_id: str, *, due_by: datetime | None = None
    ) -> ParkedExecution | None:
        return await self.inner.claim_parked(execution_id, due_by=due_by)

    async def take_parked(
        self, execution_id: str, *, due_by: datetime | None = None, method: str | None = None
    ) -> tuple[ParkedExecution, ExecutionRecord] | None:
        return await self.inner.take_parked(execution_id, due_by=due_by, method=method)

    async def close(self) -> None:
        self._plans.clear()
        await self.inner.close()
