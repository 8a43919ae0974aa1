"""In-memory implementations of the engine's ports: the embedded default and the test fakes."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relayflow.engine.run import ExecutionRecord, NodeRun
from relayflow.errors import NotFound, PayloadTooLarge


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock tests control: ``sleep`` returns at once and advances time."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._mono = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class MemoryRunStore:
    """Keeps the newest ``capacity`` executions in memory."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._records: OrderedDict[str, ExecutionRecord] = OrderedDict()

    async def execution_started(self, record: ExecutionRecord) -> None:
        self._records[record.id] = record
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)

    async def node_run_finished(self, record: ExecutionRecord, run: NodeRun) -> None:
        return None  # the record already holds the run

    async def execution_finished(self, record: ExecutionRecord) -> None:
        self._records[record.id] = record

    async def get(self, execution_id: str) -> ExecutionRecord | None:
        return self._records.get(execution_id)

    def all(self) -> list[ExecutionRecord]:
        return list(self._records.values())


class MemoryEventSink:
    """Collects events in order (tests, the CLI summary)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, data: Mapping[str, Any]) -> None:
        self.events.append((event, dict(data)))

    def names(self) -> list[str]:
        return [e for e, _ in self.events]


CHUNK = 1 << 20


class MemoryBinaryStore:
    """Binary data in a dict: the default of ``relayflow run`` and the unit-test fake. The
    server keeps binary data on disk (``relayflow.binary.FilesystemBinaryStore``)."""

    mode = "memory"

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def _get(self, key: str) -> bytes:
        try:
            return self._data[key]
        except KeyError:
            raise NotFound(f"binary data {key!r} does not exist (or was deleted)") from None

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None) -> int:
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise PayloadTooLarge(f"the binary data is larger than {limit} bytes")
            parts.append(chunk)
        self._data[key] = b"".join(parts)
        return size

    async def write_bytes(self, key: str, data: bytes) -> int:
        self._data[key] = bytes(data)
        return len(data)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        data = self._get(key)
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]

    async def read_bytes(self, key: str) -> bytes:
        return self._get(key)

    async def size(self, key: str) -> int:
        return len(self._get(key))

    async def import_file(self, key: str, path: Path) -> int:
        return await self.write_bytes(key, await asyncio.to_thread(path.read_bytes))

    async def export_file(self, key: str, path: Path) -> int:
        data = self._get(key)
        await asyncio.to_thread(path.write_bytes, data)
        return len(data)

    def local_path(self, key: str) -> Path | None:
        return None

    async def delete_execution(self, execution_id: str) -> None:
        prefix = f"{execution_id}/"
        for key in [k for k in self._data if k.startswith(prefix)]:
            del self._data[key]

    def keys(self) -> list[str]:
        return list(self._data)
