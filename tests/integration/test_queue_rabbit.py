"""What only the RabbitMQ job queue has: its topology, errors for an unreachable broker or a
conflicting declaration, unreadable messages. Own uuid-prefixed queues, deleted at teardown."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from relayflow.cluster.ports import Job
from relayflow.cluster.queue_rabbit import RabbitJobQueue, amqp_url, decode_job, encode_job, redact
from relayflow.errors import OperationalError
from relayflow.testing import services


def test_the_wire_format_is_versioned_json() -> None:
    job = Job("e1", workflow_id="w", project_id=None, priority=1, ttl_s=2.5, headers={"a": "b"})
    assert decode_job(encode_job(job)) == job
    assert encode_job(job).startswith(b'{"v":1,')
    with pytest.raises(ValueError, match="version 1"):
        decode_job(b'{"v":2,"execution_id":"e1"}')
    with pytest.raises(ValueError):
        decode_job(b"not json")


def test_the_url_comes_from_the_environment_and_messages_hide_the_password() -> None:
    assert amqp_url({}) == "amqp://guest:guest@127.0.0.1:5672/"
    assert amqp_url({"RELAYFLOW_AMQP_URL": "amqp://u:p@h:1/v"}) == "amqp://u:p@h:1/v"
    assert redact("amqp://u:s3cret@h:1/v") == "amqp://u:******@h:1/v"
    assert redact("amqp://h/") == "amqp://h/"


async def test_an_unreachable_broker_is_an_operational_error_without_the_password() -> None:
    with pytest.raises(
        OperationalError, match=re.escape("RabbitMQ is unreachable at amqp://guest:******@127.0.0.1:1/")
    ) as info:
        await RabbitJobQueue.connect("amqp://guest:s3cret@127.0.0.1:1/", timeout_s=2)
    assert "s3cret" not in str(info.value)


@pytest.fixture
async def rabbit() -> AsyncIterator[RabbitJobQueue]:
    if not services.tcp_open("127.0.0.1", 5672):
        services.require_or_skip("RabbitMQ", "nothing listens at 127.0.0.1:5672")
    queue = await RabbitJobQueue.connect(
        prefix=f"relayflow-test-{uuid.uuid4().hex[:12]}", shards=2, max_deliveries=4
    )
    yield queue
    await queue.drop()
    await queue.close()


@pytest.mark.services
async def test_the_topology_is_quorum_queues_with_a_delivery_limit(rabbit: RabbitJobQueue) -> None:
    assert rabbit.queue_name(1) == f"{rabbit.prefix}.shard.1"
    assert rabbit.queue_name(1, high=True) == f"{rabbit.prefix}.shard.1.high"
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        # a declaration with the same arguments succeeds; with another type or limit it would not
        await channel.declare_queue(
            rabbit.queue_name(0, high=True),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": 3,
                "x-dead-letter-exchange": f"{rabbit.prefix}.dlx",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
    finally:
        await connection.close()


@pytest.mark.services
async def test_redeclaring_with_another_delivery_limit_is_a_clear_error(rabbit: RabbitJobQueue) -> None:
    with pytest.raises(OperationalError, match="another max_deliveries"):
        await RabbitJobQueue.connect(prefix=rabbit.prefix, shards=2, max_deliveries=9)


@pytest.mark.services
async def test_an_unreadable_message_is_dead_lettered_not_delivered(rabbit: RabbitJobQueue) -> None:
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(b"garbage"), routing_key=rabbit.queue_name(0))
    finally:
        await connection.close()
    await rabbit.publish(Job("e-good"), shard=0)
    iterator = rabbit.consume([0], prefetch=5)
    delivery = await anext(iterator)
    assert delivery.job == Job("e-good")
    await delivery.ack()
    await iterator.aclose()  # type: ignore[attr-defined]
    assert await rabbit.dead_letters() == []  # the unreadable one is skipped when listing
    assert await rabbit.depth(0) == 0


@pytest.mark.services
async def test_publishing_to_a_missing_queue_raises(rabbit: RabbitJobQueue) -> None:
    await rabbit.drop()  # the queues are gone: mandatory publishing must not lose the job silently
    with pytest.raises(OperationalError, match=r"did not confirm|refused"):
        await rabbit.publish(Job("e1"), shard=0)


async def close_own_connection(prefix: str) -> None:
    """Force-close (broker side) only the connection named after this test's prefix."""
    listing = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", "list_connections", "pid", "client_properties", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await listing.communicate()
    pids = [line.split("\t")[0] for line in out.decode().splitlines() if prefix in line]
    assert len(pids) == 1, out
    closing = await asyncio.create_subprocess_exec("rabbitmqctl", "-q", "close_connection", pids[0], "test")
    assert await closing.wait() == 0


@pytest.mark.services
@pytest.mark.slow
async def test_a_consumer_survives_a_lost_connection_and_the_job_in_hand_comes_back(
    rabbit: RabbitJobQueue,
) -> None:
    if shutil.which("rabbitmqctl") is None:
        services.require_or_skip("rabbitmqctl", "not on PATH (needed to cut the connection)")
    for n in range(3):
        await rabbit.publish(Job(f"e{n}"), shard=0)
    iterator = rabbit.consume([0], prefetch=1)
    in_hand = await anext(iterator)
    assert (in_hand.job, in_hand.deliveries) == (Job("e0"), 1)
    await close_own_connection(rabbit.prefix)
    await asyncio.sleep(0.5)
    with pytest.raises(OperationalError, match="channel closed"):
        await in_hand.ack()  # its delivery tag died with the old channel; this frees its slot
    seen = []
    for _ in range(3):  # the robust connection comes back (within ~5 s) with its consumers
        delivery = await asyncio.wait_for(anext(iterator), 30)
        seen.append((delivery.job.execution_id, delivery.deliveries))
        await delivery.ack()
    assert sorted(seen) == [("e0", 2), ("e1", 1), ("e2", 1)]
    await rabbit.publish(Job("after"), shard=0)  # the publisher channel is back too
    assert (await asyncio.wait_for(anext(iterator), 10)).job == Job("after")
    await iterator.aclose()  # type: ignore[attr-defined]
