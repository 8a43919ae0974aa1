"""Protocols of distributed mode. Shapes only: implementations live beside this module
(``queue_memory.py``, ``queue_rabbit.py``, ``bus_*.py``, ``cache_*.py``) and in the SQL store
(leases, outbox).

Invariants every implementation keeps:

- **Queue.** ``publish`` returns only once the broker has the job (publisher confirm); a job is
  acknowledged only after the state it produced is committed, so a crash before ``ack`` means
  redelivery, never loss. After ``max_deliveries`` deliveries a job goes to the dead-letter
  queue instead of looping. High-priority jobs of a shard are delivered before normal ones.
- **Bus.** Best effort, at most once, never the only copy of anything: a subscriber that misses
  a message reads the state from the store.
- **Cache.** A read-through copy; invalidation is published on the bus so every process drops
  its L1 entry. Losing the cache costs speed, never correctness.
- **Leases.** One holder per execution at a time; every acquisition takes a strictly larger
  fencing token, and writes guarded by a token fail once a newer one exists.
- **Outbox.** An outbox row commits in the same transaction as the execution row it announces;
  the relay publishes it (with confirms) and then marks it sent, so a broker outage delays
  work but loses none (a row may be published twice; consumers are idempotent by execution id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# --- the job queue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One execution to run. Dispatch is once per execution, not per node."""

    execution_id: str
    workflow_id: str | None = None
    project_id: str | None = None
    # > 0: the shard's high-priority queue (manual test runs), drained first
    priority: int = 0
    # a message not taken within this many seconds is dropped (manual test runs)
    ttl_s: float | None = None
    # W3C trace context, idempotency key...: carried across the queue unchanged
    headers: Mapping[str, str] = field(default_factory=dict)


class Delivery(Protocol):
    """A job handed to a consumer; exactly one of ``ack`` / ``reject`` must be called."""

    @property
    def job(self) -> Job: ...

    @property
    def shard(self) -> int: ...

    @property
    def deliveries(self) -> int:
        """1 for the first delivery, 2 for the first redelivery, ..."""

    async def ack(self) -> None:
        """Done: the state it produced is committed."""

    async def reject(self, *, requeue: bool) -> None:
        """``requeue=True``: give it back now (shutdown, lease lost); False: dead-letter it."""


class JobQueue(Protocol):
    shards: int
    max_deliveries: int

    async def publish(self, job: Job, *, shard: int) -> None:
        """Returns once the broker confirmed; raises ``OperationalError`` when it cannot."""

    def consume(self, shards: Sequence[int], *, prefetch: int) -> AsyncIterator[Delivery]:
        """Deliveries from these shards (high priority first), at most ``prefetch`` unacked."""

    async def depth(self, shard: int) -> int:
        """Ready (not yet delivered) jobs of a shard, both priorities."""

    async def dead_letters(self, *, limit: int = 100) -> list[Job]:
        """Jobs that hit ``max_deliveries`` (or were rejected without requeue), oldest first."""

    async def close(self) -> None: ...


class ShardRouter(Protocol):
    shards: int

    def shard_of(self, key: str) -> int:
        """The shard of a workflow id (or project id for tenant affinity)."""


# --- the event bus -----------------------------------------------------------------------------

Handler = Callable[[str, Mapping[str, Any]], Awaitable[None] | None]


class Subscription(Protocol):
    async def close(self) -> None: ...


class EventBus(Protocol):
    """Fan-out between processes: live execution events, cache invalidation, wake-ups."""

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        """Best effort: never raises for a bus that is down (logged, counted)."""

    async def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """``pattern`` is a channel name or a glob (``events.*``)."""

    async def close(self) -> None: ...


# --- the cache ---------------------------------------------------------------------------------


class Cache(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None: ...

    async def invalidate(self, key: str) -> None:
        """Drop the key here and, through the bus, in every process's L1."""


# --- leases and the outbox ---------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    execution_id: str
    holder: str  # the worker id (host:pid:uuid)
    token: int  # the fencing token: strictly increasing per execution
    expires_at: datetime


@dataclass(frozen=True)
class ExpiredLease:
    execution_id: str
    holder: str
    token: int
    # how many times a holder of this execution died (lease expired) so far, this one included
    crashes: int


class LeaseStore(Protocol):
    async def acquire(self, execution_id: str, holder: str, *, ttl_s: float) -> Lease | None:
        """A new lease (a larger token) when none is held or the held one expired; None when
        another holder's lease is live."""

    async def heartbeat(self, lease: Lease, *, ttl_s: float) -> Lease | None:
        """Extended; None when the lease was lost (expired and taken, or swept)."""

    async def release(self, lease: Lease) -> None:
        """Hand it back at once (finished, or SIGTERM)."""

    async def expired(self, *, limit: int = 100) -> list[ExpiredLease]:
        """Leases past their expiry, for the sweeper; each is marked swept (its crash count
        incremented) so two sweepers do not both requeue it."""

    async def check(self, execution_id: str, token: int) -> bool:
        """Whether ``token`` is still the newest for the execution (fenced writes use the same
        condition inside their own statement)."""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    job: Job
    shard: int
    created_at: datetime


class Outbox(Protocol):
    async def pending(self, *, limit: int = 500) -> list[OutboxRow]:
        """Unsent rows, oldest first."""

    async def mark_sent(self, ids: Sequence[int]) -> None: ...

    async def lag(self) -> tuple[int, float]:
        """(unsent rows, age in seconds of the oldest) for the metrics."""
