"""The engine's ports: the only ways it reaches the world.

The engine imports no database, broker or cache driver. The composition root hands it
implementations of these protocols; ``relayflow.engine.memory`` has the in-memory ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
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

    async def load_static_data(self, workflow_id: str) -> dict[str, Any] | None:
        """What was saved last; None when nothing was (or the workflow is gone)."""


class CredentialVault(Protocol):
    """Credentials for nodes. ``ref`` is the node's ``credentials[type_]`` (n8n's ``{"id", "name"}``);
    only credentials the workflow's project owns or was shared are handed out: anything else
    raises ``CredentialUnavailable``."""

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]: ...


class BinaryStore(Protocol):
    """The bytes of binary item data, kept out of the items. Keys are ``<execution id>/<name>``
    (made by ``relayflow.engine.binary``); items carry the key in their binary entry's ``id``.
    Unknown keys raise ``relayflow.errors.NotFound``."""

    # what binary entries' ``data`` field says: "filesystem-v2" (n8n's word) or "memory"
    mode: str

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None) -> int:
        """Store the chunks under ``key``; the size in bytes. Over ``limit`` bytes: nothing is
        kept and ``relayflow.errors.PayloadTooLarge`` is raised."""

    async def write_bytes(self, key: str, data: bytes) -> int: ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The bytes in chunks (about 1 MiB each), never the whole at once."""

    async def read_bytes(self, key: str) -> bytes: ...

    async def size(self, key: str) -> int: ...

    async def import_file(self, key: str, path: Path) -> int:
        """Copy a local file in (streamed); its size."""

    async def export_file(self, key: str, path: Path) -> int:
        """Copy the bytes out to a local file (streamed); the size."""

    def local_path(self, key: str) -> Path | None:
        """Where the bytes lie on this machine's disk (to serve them with sendfile), or None."""

    async def delete_execution(self, execution_id: str) -> None:
        """Drop every key of an execution (when its record is deleted or not kept)."""
