"""Execution retention: delete old terminal executions in small batches.

``RELAYFLOW_EXECUTIONS_MAX_AGE_HOURS`` (default 336 = 14 days) and
``RELAYFLOW_EXECUTIONS_MAX_COUNT`` (default 10000) bound what is kept; ``0`` or an empty value
turns a bound off. Running and waiting executions are never deleted.

``relayflow executions prune`` runs it once; the server's ``Pruner`` (store/pruner.py) runs it
every ``RELAYFLOW_PRUNE_INTERVAL_S`` (default 300; 0 turns it off) in batches of
``RELAYFLOW_PRUNE_BATCH_SIZE`` (default 500) executions.
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
DEFAULT_INTERVAL_S = 300


@dataclass(frozen=True)
class RetentionSettings:
    max_age: timedelta | None = timedelta(hours=DEFAULT_MAX_AGE_HOURS)
    max_count: int | None = DEFAULT_MAX_COUNT
    # how often the server prunes; None: never (the CLI still can)
    interval_s: float | None = DEFAULT_INTERVAL_S
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RetentionSettings:
        hours = _number(env, "RELAYFLOW_EXECUTIONS_MAX_AGE_HOURS", DEFAULT_MAX_AGE_HOURS)
        count = _number(env, "RELAYFLOW_EXECUTIONS_MAX_COUNT", DEFAULT_MAX_COUNT)
        interval = _number(env, "RELAYFLOW_PRUNE_INTERVAL_S", DEFAULT_INTERVAL_S)
        batch = _number(env, "RELAYFLOW_PRUNE_BATCH_SIZE", DEFAULT_BATCH_SIZE)
        if batch < 1 or batch != int(batch):
            raise InputInvalid(f"RELAYFLOW_PRUNE_BATCH_SIZE must be a whole number >= 1, not {batch:g}")
        return cls(
            max_age=timedelta(hours=hours) if hours else None,
            max_count=int(count) if count else None,
            interval_s=interval or None,
            batch_size=int(batch),
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
    if not value >= 0 or value == float("inf"):
        raise InputInvalid(f"{name} must be a finite number >= 0, not {raw!r}")
    return value


async def prune(
    store: ExecutionStore,
    *,
    max_age: timedelta | None,
    max_count: int | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Delete terminal executions older than ``max_age`` or beyond the newest ``max_count``;
    each batch is its own transaction and the event loop runs between batches (other writers
    waiting for the database go first). Stops early, between batches, once ``stop`` is set.
    Returns how many were deleted."""
    if batch_size < 1:
        raise InputInvalid(f"batch_size must be at least 1, not {batch_size}")
    if max_count is not None and max_count < 0:
        raise InputInvalid(f"max_count must not be negative, not {max_count}")
    if max_age is None and max_count is None:
        return 0
    before = (now or datetime.now(UTC)) - max_age if max_age is not None else None
    total = 0
    while stop is None or not stop.is_set():
        deleted = await store.prune(before=before, keep_newest=max_count, limit=batch_size)
        total += deleted
        if deleted < batch_size:
            break
        await asyncio.sleep(0)
    return total
