"""Redis for the distributed-mode tests: the machine's server under a per-test key prefix, a port
where nothing listens, a server that accepts and never answers (a hanging Redis), and a proxy that
can cut and restore the way to the real server (a Redis restart, without restarting it)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis

from relayflow.cluster.redis_common import escape_glob
from relayflow.testing.services import require_or_skip, run_sync, tcp_open

T = TypeVar("T")

REDIS_URL = os.environ.get("RELAYFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOST, PORT = urlsplit(REDIS_URL).hostname or "127.0.0.1", urlsplit(REDIS_URL).port or 6379


def require_redis() -> str:
    if not tcp_open(HOST, PORT):
        require_or_skip("Redis", f"nothing listens on {HOST}:{PORT}")
    return REDIS_URL


def new_prefix() -> str:
    return f"rf-test:{uuid.uuid4().hex[:12]}:"


@contextlib.asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh prefix; every key under it is deleted afterwards (never a flush)."""
    prefix = new_prefix()
    yield prefix
    await delete_prefix(prefix)


async def delete_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=escape_glob(prefix) + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], object], what: str, timeout_s: float = 5.0) -> None:
    """Poll ``check`` (sync or async) until it is truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class HangingServer:
    """Accepts connections, reads what comes, never answers."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> HangingServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for w in self._writers:
            w.close()
        with contextlib.suppress(Exception):
            await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class RedisProxy:
    """A TCP proxy to the real Redis: ``cut()`` drops every connection and refuses new ones (a
    Redis restart as clients see it), ``restore()`` lets them through again; ``freeze()`` keeps
    connections open but stops forwarding (a hanging Redis); ``hold_replies()`` delays only the
    answers."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self._flowing = asyncio.Event()  # client -> Redis
        self._flowing.set()
        self._replies = asyncio.Event()  # Redis -> client
        self._replies.set()
        self._conns: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            writer.close()
            return
        self._conns += [writer, up_writer]
        for src, dst, gate in ((reader, up_writer, self._flowing), (up_reader, writer, self._replies)):
            task = asyncio.create_task(self._pipe(src, dst, gate))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, gate: asyncio.Event) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                await gate.wait()
                dst.write(data)
                await dst.drain()
        dst.close()

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for w in self._conns:
            w.close()
        self._conns.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        self.thaw()
        await self.start()

    def freeze(self) -> None:
        self._flowing.clear()
        self._replies.clear()

    def hold_replies(self) -> None:
        """Commands still reach Redis, its answers wait (a slow reply in flight)."""
        self._replies.clear()

    def thaw(self) -> None:
        self._flowing.set()
        self._replies.set()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous test or fixture."""
    return run_sync(coro)
