"""The job queue on RabbitMQ: an own thin adapter over aio-pika (lazy-imported).

Topology, all names under a prefix (``relayflow`` by default; tests use a uuid prefix):

- ``<prefix>.shard.<n>`` and ``<prefix>.shard.<n>.high``: durable **quorum** queues, one pair per
  shard. Quorum queues have no ``x-max-priority`` (RabbitMQ < 4), so a job with ``priority > 0``
  goes to the shard's ``.high`` queue, and a consumer subscribes to both and always hands out a
  buffered high job before a normal one.
- ``x-delivery-limit`` = ``max_deliveries - 1``: RabbitMQ counts a *return* (reject with requeue,
  or the consumer's channel closing with the message unacked) in the ``x-delivery-count`` header
  and dead-letters the message when a return would exceed the limit, so a job is delivered at most
  ``max_deliveries`` times. ``Delivery.deliveries`` is ``x-delivery-count + 1``.
- Dead letters go through the fanout exchange ``<prefix>.dlx`` (strategy ``at-least-once``, which
  needs ``x-overflow: reject-publish``) to ``<prefix>.dead``, a durable classic queue: reading it
  is a peek (get without ack, then the channel closes and RabbitMQ puts the messages back in their
  place), and a classic queue keeps their order and has no delivery limit of its own. Jobs that
  expired (``ttl_s``) are dead-lettered too by RabbitMQ; ``dead_letters`` removes and skips them.

Publishing uses publisher confirms, ``mandatory`` (an unroutable job raises) and persistent
messages; ``publish`` returns only after the broker's ack. Acks are manual. RabbitMQ applies
``basic.qos`` per consumer on quorum queues (global QoS is refused), so a consumer of k queues may
hold up to (2 * shards + shards) * prefetch messages (high consumers take twice the prefetch so a
freed slot finds the next high job already buffered); this adapter hands out at most
``prefetch`` at a time, and the rest wait in the consumer's buffer (a crash or a closed consumer
returns them, each counting a delivery).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from relayflow.cluster.ports import Job
from relayflow.errors import OperationalError

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

log = logging.getLogger(__name__)

AMQP_URL_ENV = "RELAYFLOW_AMQP_URL"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
WIRE_VERSION = 1
PUBLISH_TIMEOUT_S = 10.0


def amqp_url(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get(AMQP_URL_ENV, "").strip() or DEFAULT_AMQP_URL


def redact(url: str) -> str:
    """The URL for messages: the password replaced by ``******``."""
    from yarl import URL

    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return "<unparsable AMQP URL>"
    return str(parsed.with_password("******")) if parsed.password else str(parsed)


def encode_job(job: Job) -> bytes:
    return orjson.dumps(
        {
            "v": WIRE_VERSION,
            "execution_id": job.execution_id,
            "workflow_id": job.workflow_id,
            "project_id": job.project_id,
            "priority": job.priority,
            "ttl_s": job.ttl_s,
            "headers": dict(job.headers),
        }
    )


def decode_job(body: bytes) -> Job:
    """ValueError when the body is not a job of a wire version this code reads."""
    data = orjson.loads(body)
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise ValueError(f"not a version {WIRE_VERSION} job")
    execution_id = data.get("execution_id")
    if not isinstance(execution_id, str):
        raise ValueError("the job has no execution_id")
    headers = data.get("headers") or {}
    return Job(
        execution_id=execution_id,
        workflow_id=data.get("workflow_id"),
        project_id=data.get("project_id"),
        priority=int(data.get("priority") or 0),
        ttl_s=data.get("ttl_s"),
        headers={str(k): str(v) for k, v in headers.items()},
    )


def _is_stale(message: AbstractIncomingMessage) -> bool:
    """True when the channel it came on is gone (reconnect): its delivery tag means nothing now."""
    from aio_pika.exceptions import ChannelInvalidStateError

    try:
        message.channel  # noqa: B018 - the property raises for a closed channel
    except ChannelInvalidStateError:
        return True
    return False


class RabbitDelivery:
    def __init__(self, message: AbstractIncomingMessage, job: Job, shard: int, release: Any) -> None:
        self._message = message
        self._job = job
        self._shard = shard
        self._release = release
        count = (message.headers or {}).get("x-delivery-count")
        self._deliveries = int(count) + 1 if isinstance(count, int) else 1

    @property
    def job(self) -> Job:
        return self._job

    @property
    def shard(self) -> int:
        return self._shard

    @property
    def deliveries(self) -> int:
        return self._deliveries

    async def ack(self) -> None:
        await self._settle(None)

    async def reject(self, *, requeue: bool) -> None:
        await self._settle(requeue)

    async def _settle(self, requeue: bool | None) -> None:
        from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, MessageProcessError

        try:
            if requeue is None:
                await self._message.ack()
            else:
                # requeue=False dead-letters it (reason "rejected")
                await self._message.reject(requeue=requeue)
        except (MessageProcessError, ChannelInvalidStateError) as exc:
            raise OperationalError(
                "this delivery was already settled, or its channel closed (the broker gave it back)"
            ) from exc
        except (AMQPError, ConnectionError) as exc:
            raise OperationalError(f"could not settle a delivery with RabbitMQ: {exc}") from exc
        finally:
            self._release(self)


class RabbitJobQueue:
    """A JobQueue on RabbitMQ. Open it with ``await RabbitJobQueue.connect(...)``."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        publisher: AbstractChannel,
        admin: AbstractChannel,
        *,
        prefix: str,
        shards: int,
        max_deliveries: int,
        url: str,
    ) -> None:
        self._connection = connection
        self._url = url
        self._publisher = publisher
        self._admin = admin
        self.prefix = prefix
        self.shards = shards
        self.max_deliveries = max_deliveries
        self._location = redact(url)
        self._closed = False
        # the wake-up of every open consumer, so close() ends the ones waiting for a job
        self._waiters: set[asyncio.Event] = set()

    # --- names ---------------------------------------------------------------------------------

    def queue_name(self, shard: int, *, high: bool = False) -> str:
        return f"{self.prefix}.shard.{shard}" + (".high" if high else "")

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    def _queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.max_deliveries - 1,
            "x-dead-letter-exchange": self.dead_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str | None = None,
        *,
        prefix: str = "relayflow",
        shards: int = 1,
        max_deliveries: int = 5,
        timeout_s: float = 5.0,
    ) -> RabbitJobQueue:
        """Connect (robust: it reconnects by itself later) and declare the topology."""
        import aio_pika

        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, not {max_deliveries}")
        url = url or amqp_url()
        location = redact(url)
        try:
            connection = await aio_pika.connect_robust(
                url, timeout=timeout_s, client_properties={"connection_name": f"relayflow queue {prefix}"}
            )
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            raise OperationalError(
                f"RabbitMQ is unreachable at {location}: {exc or type(exc).__name__}"
            ) from exc
        try:
            publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            admin = await connection.channel()
            queue = cls(
                connection,
                publisher,
                admin,
                prefix=prefix,
                shards=shards,
                max_deliveries=max_deliveries,
                url=url,
            )
            await queue._declare()
        except BaseException:
            await connection.close()
            raise
        return queue

    async def _declare(self) -> None:
        import aio_pika
        from aio_pika.exceptions import AMQPError

        try:
            channel = await self._connection.channel()
            try:
                exchange = await channel.declare_exchange(
                    self.dead_exchange, aio_pika.ExchangeType.FANOUT, durable=True
                )
                dead = await channel.declare_queue(self.dead_queue, durable=True)
                await dead.bind(exchange)
                arguments = self._queue_arguments()
                for shard in range(self.shards):
                    for high in (False, True):
                        await channel.declare_queue(
                            self.queue_name(shard, high=high), durable=True, arguments=arguments
                        )
            finally:
                if not channel.is_closed:
                    await channel.close()
        except AMQPError as exc:
            raise OperationalError(
                f"could not declare the job queues {self.prefix}.* on {self._location} (a queue that "
                f"already exists with other arguments, e.g. another max_deliveries?): {exc}"
            ) from exc

    async def drop(self) -> None:
        """Delete this prefix's queues and exchange (tests; an operator's teardown). Works after
        ``close()`` too, on a connection of its own."""
        import aio_pika

        connection = await aio_pika.connect(self._url) if self._connection.is_closed else None
        channel = await (connection or self._connection).channel()
        try:
            for shard in range(self.shards):
                for high in (False, True):
                    await channel.queue_delete(self.queue_name(shard, high=high))
            await channel.queue_delete(self.dead_queue)
            await channel.exchange_delete(self.dead_exchange)
        finally:
            await channel.close()
            if connection is not None:
                await connection.close()

    # --- the JobQueue protocol -----------------------------------------------------------------

    def _check_shard(self, shard: int) -> None:
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} is out of range: this queue has shards 0..{self.shards - 1}")

    async def publish(self, job: Job, *, shard: int) -> None:
        import aio_pika
        from aio_pika.exceptions import AMQPError
        from pamqp.commands import Basic

        self._check_shard(shard)
        message = aio_pika.Message(
            encode_job(job),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=job.execution_id,
            expiration=job.ttl_s,
        )
        name = self.queue_name(shard, high=job.priority > 0)
        try:
            confirmation = await self._publisher.default_exchange.publish(
                message, routing_key=name, mandatory=True, timeout=PUBLISH_TIMEOUT_S
            )
        except (AMQPError, ConnectionError, TimeoutError, RuntimeError) as exc:
            raise OperationalError(
                f"RabbitMQ at {self._location} did not confirm job to {name}: {exc}"
            ) from exc
        if not isinstance(confirmation, Basic.Ack):
            raise OperationalError(f"RabbitMQ at {self._location} refused job to {name}: {confirmation!r}")

    async def consume(self, shards: Sequence[int], *, prefetch: int) -> AsyncIterator[RabbitDelivery]:
        from aio_pika.exceptions import AMQPError

        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        if self._closed:
            raise OperationalError("the job queue is closed")
        wanted = list(dict.fromkeys(shards))
        for shard in wanted:
            self._check_shard(shard)
        high: deque[tuple[AbstractIncomingMessage, int]] = deque()
        normal: deque[tuple[AbstractIncomingMessage, int]] = deque()
        arrived = asyncio.Event()
        unacked: set[RabbitDelivery] = set()
        slot_freed = asyncio.Event()

        def release(delivery: RabbitDelivery) -> None:
            unacked.discard(delivery)
            slot_freed.set()

        def receiver(buffer: deque[tuple[AbstractIncomingMessage, int]], shard: int) -> Any:
            async def on_message(message: AbstractIncomingMessage) -> None:
                buffer.append((message, shard))
                arrived.set()

            return on_message

        channels: list[AbstractChannel] = []
        try:
            # Two robust channels, each with its own basic.qos (which aio-pika restores, with the
            # consumers, after a reconnect). The high consumers get twice the prefetch, so when a
            # slot frees the next high job is already buffered here and goes out before any
            # buffered normal one; they start first for the same reason.
            arguments = self._queue_arguments()
            for level_high, buffer, level_prefetch in ((True, high, 2 * prefetch), (False, normal, prefetch)):
                channel = await self._connection.channel()
                channels.append(channel)
                await channel.set_qos(prefetch_count=level_prefetch)
                for shard in wanted:
                    # a real (idempotent) declare: it registers the queue for restoring
                    queue = await channel.declare_queue(
                        self.queue_name(shard, high=level_high), durable=True, arguments=arguments
                    )
                    await queue.consume(receiver(buffer, shard))
        except (AMQPError, ConnectionError, RuntimeError) as exc:
            await self._close_channels(channels)
            raise OperationalError(f"could not consume from RabbitMQ at {self._location}: {exc}") from exc
        self._waiters.add(arrived)
        try:
            while True:
                while len(unacked) >= prefetch:
                    slot_freed.clear()
                    await slot_freed.wait()
                arrived.clear()
                while not high and not normal:
                    if self._closed:
                        raise OperationalError("the job queue is closed")
                    await arrived.wait()
                    arrived.clear()
                message, shard = (high or normal).popleft()
                if _is_stale(message):
                    continue
                try:
                    job = decode_job(message.body)
                except (ValueError, TypeError, AttributeError) as exc:
                    log.error("dead-lettering an unreadable message on shard %s: %s", shard, exc)
                    await message.reject(requeue=False)
                    continue
                delivery = RabbitDelivery(message, job, shard, release)
                unacked.add(delivery)
                yield delivery
        finally:
            self._waiters.discard(arrived)
            # the broker gives back whatever is unacked, each counting a delivery (after close()
            # the connection's own closing does it)
            if not self._closed:
                await self._close_channels(channels)

    async def _close_channels(self, channels: list[AbstractChannel]) -> None:
        from aio_pika.exceptions import AMQPError

        for channel in channels:
            if channel.is_closed:
                continue
            try:
                await channel.close()
            except (AMQPError, ConnectionError, RuntimeError) as exc:
                log.warning("closing a consumer channel failed: %s", exc)

    async def depth(self, shard: int) -> int:
        """Ready jobs of both queues of the shard. RabbitMQ reports counts with a delay after a
        restart, and counts are a snapshot: callers use it for backpressure and metrics only."""
        from aio_pika.exceptions import AMQPError

        self._check_shard(shard)
        total = 0
        try:
            # the raw channel: aio-pika's robust channel answers a passive declare from its cache
            channel = await self._admin.get_underlay_channel()
            for high in (False, True):
                declared = await channel.queue_declare(self.queue_name(shard, high=high), passive=True)
                total += declared.message_count or 0
        except (AMQPError, ConnectionError, RuntimeError) as exc:
            raise OperationalError(
                f"could not read the depth of shard {shard} on {self._location}: {exc}"
            ) from exc
        return total

    async def dead_letters(self, *, limit: int = 100) -> list[Job]:
        """A peek at the dead-letter queue, oldest first (expired jobs are removed and skipped)."""
        from aio_pika.exceptions import AMQPError

        jobs: list[Job] = []
        try:
            channel = await self._connection.channel()
            try:
                queue = await channel.get_queue(self.dead_queue, ensure=False)
                while len(jobs) < limit:
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    if (message.headers or {}).get("x-first-death-reason") == "expired":
                        await message.ack()
                        continue
                    try:
                        jobs.append(decode_job(message.body))
                    except (ValueError, TypeError, AttributeError):
                        log.warning("skipping an unreadable dead letter")
            finally:
                await channel.close()  # unacked gets go back, in their place
        except (AMQPError, ConnectionError, RuntimeError) as exc:
            raise OperationalError(f"could not read the dead letters on {self._location}: {exc}") from exc
        return jobs

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            waiter.set()
        if not self._connection.is_closed:
            await self._connection.close()
