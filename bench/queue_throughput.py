"""Job queue throughput on the local RabbitMQ (or the in-process queue): publish with confirms,
then consume + ack, on its own uuid-prefixed quorum queues (deleted at the end).

Figures: jobs/s for sequential publishes (one confirm awaited at a time), for concurrent
publishes (``--window`` in flight), and for consume + ack with ``--prefetch`` unacked.

    python -m bench.queue_throughput [--jobs 10000] [--shards 4] [--window 256] [--prefetch 100]
        [--backend rabbitmq|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from bench.common import emit
from relayflow.cluster.ports import Job, JobQueue
from relayflow.cluster.queue_memory import MemoryJobQueue


async def open_queue(backend: str, shards: int) -> Any:
    if backend == "memory":
        return MemoryJobQueue(shards=shards)
    from relayflow.cluster.queue_rabbit import RabbitJobQueue

    return await RabbitJobQueue.connect(prefix=f"relayflow-bench-{uuid.uuid4().hex[:8]}", shards=shards)


async def publish_all(queue: JobQueue, jobs: int, offset: int, window: int) -> float:
    semaphore = asyncio.Semaphore(window)

    async def one(n: int) -> None:
        async with semaphore:
            await queue.publish(Job(f"exec-{n}", workflow_id=f"wf-{n % 97}"), shard=n % queue.shards)

    started = time.perf_counter()
    await asyncio.gather(*(one(offset + n) for n in range(jobs)))
    return jobs / (time.perf_counter() - started)


async def consume_all(queue: JobQueue, jobs: int, prefetch: int) -> float:
    seen = 0
    started = time.perf_counter()
    iterator = queue.consume(list(range(queue.shards)), prefetch=prefetch)
    async for delivery in iterator:
        await delivery.ack()
        seen += 1
        if seen == jobs:
            break
    elapsed = time.perf_counter() - started
    await iterator.aclose()  # type: ignore[attr-defined]
    return jobs / elapsed


async def main(args: argparse.Namespace) -> None:
    queue = await open_queue(args.backend, args.shards)
    try:
        sequential_n = min(args.jobs, 2000)
        sequential = await publish_all(queue, sequential_n, 0, 1)
        concurrent = await publish_all(queue, args.jobs - sequential_n, sequential_n, args.window)
        consumed = await consume_all(queue, args.jobs, args.prefetch)
        emit(
            "queue_throughput",
            {
                "backend": args.backend,
                "jobs": args.jobs,
                "shards": args.shards,
                "publish_sequential_per_s": round(sequential),
                f"publish_window_{args.window}_per_s": round(concurrent),
                f"consume_ack_prefetch_{args.prefetch}_per_s": round(consumed),
            },
        )
    finally:
        if args.backend == "rabbitmq":
            await queue.drop()
        await queue.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--backend", choices=["rabbitmq", "memory"], default="rabbitmq")
    asyncio.run(main(parser.parse_args()))
