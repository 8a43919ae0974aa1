"""Fired schedule slots in memory: the unit tests' fake and the contract's reference."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from relayflow.store.common import utc


class MemoryFiredSlotStore:
    """Slots are keyed by (workflow, node, fire time), as the SQL table's primary key is."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], set[datetime]] = {}

    async def claim(self, workflow_id: str, node: str, slot_key: str, fire_at: datetime) -> bool:
        fired = self._slots.setdefault((workflow_id, node), set())
        at = utc(fire_at).replace(microsecond=0)
        if at in fired:
            return False
        fired.add(at)
        return True

    async def claim_many(self, slots: Sequence[tuple[str, str, datetime]]) -> list[bool]:
        return [await self.claim(workflow_id, node, "", at) for workflow_id, node, at in slots]

    async def last_fired(self, workflow_id: str, node: str) -> datetime | None:
        return max(self._slots.get((workflow_id, node), ()), default=None)

    async def close(self) -> None:
        return None
