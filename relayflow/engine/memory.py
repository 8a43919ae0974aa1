"""In-memory implementations of the engine's ports: the embedded default and the test fakes."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from relayflow.engine.run import ExecutionRecord, NodeRun


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
