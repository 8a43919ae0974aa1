"""Execution retention: delete old terminal executions in small batches.

``RELAYFLOW_EXECUTIONS_MAX_AGE_HOURS`` (default 336 = 14 days) and
``RELAYFLOW_EXECUTIONS_MAX_COUNT`` (default 10000) bound what is kept; ``0`` or an empty value
turns a bound off. Running and waiting executions are never deleted.

``relayflow executions prune`` runs it once. TODO(scheduler): the server will run ``prune``
periodically once the scheduler lands (issue #3); until then it is the CLI's job.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from relayflow.errors import InputInvalid
from relayflow.store.ports import ExecutionStore

DEFAULT_MAX_AGE_HOURS = 336
DEFAULT_MAX_COUNT = 10_000
DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class RetentionSettings:
    max_age: timedelta | None = timedelta(hours=DEFAULT_MAX_AGE_HOURS)
    max_count: int | None = DEFAULT_MAX_COUNT

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RetentionSettings:
        hours = _number(env, "RELAYFLOW_EXECUTIONS_MAX_AGE_HOURS", DEFAULT_MAX_AGE_HOURS)
        count = _number(env, "RELAYFLOW_EXECUTIONS_MAX_COUNT", DEFAULT_MAX_COUNT)
        return cls(
            max_age=timedelta(hours=hours) if hours else None,
            max_count=int(count) if count else None,
        )


def _number(env: Mapping[str, str], name: str, default: int) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip():
        return 0
    try:
        value = float(raw)
    except ValueError:
        raise InputInvalid(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise InputInvalid(f"{name} must not be negative, not {raw!r}")
    return value


async def prune(
    store: ExecutionStore,
    *,
    max_age: timedelta | None,
    max_count: int | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
) -> int:
    """Delete terminal executions older than ``max_age`` or beyond the newest ``max_count``;
    each batch is its own transaction and the event loop runs between batches. Returns how
    many were deleted."""
    if batch_size < 1:
        raise InputInvalid(f"batch_size must be at least 1, not {batch_size}")
    if max_count is not None and max_count < 0:
        raise InputInvalid(f"max_count must not be negative, not {max_count}")
    if max_age is None and max_count is None:
        return 0
    before = (now or datetime.now(UTC)) - max_age if max_age is not None else None
    total = 0
    while True:
        deleted = await store.prune(before=before, keep_newest=max_count, limit=batch_size)
        total += deleted
        if deleted < batch_size:
            return total
        await asyncio.sleep(0)
