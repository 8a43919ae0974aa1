"""Workflow static data (``$getWorkflowStaticData``) as one engine keeps it.

One dict per workflow id is shared by every execution of that workflow in this process, whichever
parse of the workflow runs. It is seeded once from the ``StaticDataStore`` (a workflow read from a
listing, as the scheduler does, carries none, and the first execution after a start must continue
from what was kept, not overwrite it with nothing). Production executions' changes are saved
when they end; a manual run or a sub-workflow sees a copy whose changes are not kept (as in n8n).
Without a store every execution sees its workflow's own ``staticData``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from relayflow.engine.ports import StaticDataStore
    from relayflow.workflow.model import Workflow

log = logging.getLogger("relayflow.engine")


def static_data_of(workflow: Any) -> dict[str, Any]:
    """The workflow's static data as a dict attached to it, so that executions of the same
    Workflow object share it (n8n exports may hold it as JSON text)."""
    sd = workflow.staticData
    if isinstance(sd, dict):
        return sd
    parsed: Any = None
    if isinstance(sd, str) and sd.strip():
        try:
            parsed = orjson.loads(sd)
        except orjson.JSONDecodeError:
            parsed = None
    data: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    workflow.staticData = data
    return data


def snapshot(data: Mapping[str, Any]) -> bytes:
    """The static data as comparable JSON (to tell whether a run changed it)."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)


class StaticData:
    def __init__(self, services: Any) -> None:
        # read at each use: the store is ``services.static_data`` (None: nothing is kept)
        self._services = services
        self._shared: dict[str, dict[str, Any]] = {}

    @property
    def store(self) -> StaticDataStore | None:
        store: StaticDataStore | None = self._services.static_data
        return store

    async def seed(self, workflow: Workflow) -> None:
        """Once per workflow id in this process: start from what the store kept."""
        store = self.store
        if workflow.id is None or store is None or workflow.id in self._shared:
            return
        kept = await store.load_static_data(workflow.id)
        if workflow.id not in self._shared:  # another execution may have seeded it meanwhile
            self._shared[workflow.id] = kept if kept is not None else static_data_of(workflow)

    def for_execution(self, workflow: Workflow, mode: str, depth: int) -> dict[str, Any]:
        """What an execution of ``workflow`` sees: the shared dict when it is kept, a copy for a
        manual run or a sub-workflow, the workflow's own without a store."""
        own = static_data_of(workflow)
        if workflow.id is None or self.store is None:
            return own
        shared = self._shared.setdefault(workflow.id, own)
        workflow.staticData = shared
        if mode == "manual" or depth > 0:
            return copy.deepcopy(shared)
        return shared

    async def shared(self, workflow: Workflow) -> dict[str, Any]:
        """The seeded dict production executions of ``workflow`` share (polling triggers)."""
        await self.seed(workflow)
        return self.for_execution(workflow, "trigger", 0)

    def kept_snapshot(self, data: Mapping[str, Any], mode: str, depth: int) -> bytes | None:
        """``snapshot(data)`` when an execution's changes are kept, else None."""
        if mode == "manual" or depth > 0 or self.store is None:
            return None
        return snapshot(data)

    async def save_if_changed(
        self, workflow_id: str | None, data: Mapping[str, Any], before: bytes | None
    ) -> None:
        """Save ``data`` when it differs from ``before``; a failure is logged (the execution's
        outcome stands)."""
        store = self.store
        if store is None or workflow_id is None or before is None or snapshot(data) == before:
            return
        try:
            await store.save_static_data(workflow_id, data)
        except Exception:
            log.exception("the static data of workflow %s could not be saved", workflow_id)
