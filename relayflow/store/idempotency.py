"""Webhook idempotency keys: which execution a production webhook's ``Idempotency-Key`` started.

Invariants, the same on every backend (tests/contract/test_idempotency.py):

- (workflow_id, key) is unique. ``claim`` is one insert-or-read: the first caller gets
  ``Claimed`` and its execution id is stored; every later caller (other processes included, on
  SQL the unique constraint decides) gets ``Existing`` with the stored execution id and body hash.
- ``release`` drops a claim only while it still names the given execution (a request that claimed,
  then could not start its execution, leaves nothing behind).
- ``expire(before)`` drops the keys created before ``before`` (the pruner's pass, see pruner.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import InputInvalid
from relayflow.settings import env_int

MAX_KEY_CHARS = 255
DEFAULT_TTL_HOURS = 24


@dataclass(frozen=True)
class Claimed:
    """The key was free: it now names the caller's execution."""


@dataclass(frozen=True)
class Existing:
    """The key was taken, by ``execution_id`` for a body whose SHA-256 is ``body_hash``."""

    execution_id: str
    body_hash: str


class IdempotencyStore(Protocol):
    async def claim(
        self, workflow_id: str, key: str, body_hash: str, execution_id: str
    ) -> Claimed | Existing:
        """Take ``key`` for ``execution_id``, or say who holds it."""

    async def release(self, workflow_id: str, key: str, execution_id: str) -> bool:
        """Drop the claim if it still names ``execution_id``; whether it did."""

    async def expire(self, before: datetime) -> int:
        """Drop the keys created before ``before``; how many."""

    async def close(self) -> None: ...


def check_key(key: str) -> str:
    """The header's key, trimmed; InputInvalid when it is empty or too long."""
    trimmed = key.strip()
    if not trimmed:
        raise InputInvalid("the Idempotency-Key header is empty")
    if len(trimmed) > MAX_KEY_CHARS:
        raise InputInvalid(f"the Idempotency-Key header is longer than {MAX_KEY_CHARS} characters")
    return trimmed


def ttl_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """``RELAYFLOW_IDEMPOTENCY_TTL_HOURS`` (default 24): how long a key is kept."""
    hours = env_int(os.environ if env is None else env, "RELAYFLOW_IDEMPOTENCY_TTL_HOURS", DEFAULT_TTL_HOURS)
    return timedelta(hours=hours)


class MemoryIdempotencyStore:
    """The embedded store and the contract's reference."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._keys: dict[tuple[str, str], tuple[str, str, datetime]] = {}

    async def claim(
        self, workflow_id: str, key: str, body_hash: str, execution_id: str
    ) -> Claimed | Existing:
        held = self._keys.setdefault((workflow_id, key), (body_hash, execution_id, self._clock.now()))
        if held[1] == execution_id and held[0] == body_hash:
            return Claimed()
        return Existing(held[1], held[0])

    async def release(self, workflow_id: str, key: str, execution_id: str) -> bool:
        held = self._keys.get((workflow_id, key))
        if held is None or held[1] != execution_id:
            return False
        del self._keys[(workflow_id, key)]
        return True

    async def expire(self, before: datetime) -> int:
        old = [k for k, (_, _, created) in self._keys.items() if created < before]
        for k in old:
            del self._keys[k]
        return len(old)

    async def close(self) -> None:
        return None
