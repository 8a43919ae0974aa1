"""Group commit for a SQLite file: one thread, one connection, one transaction per batch of writes.

A write is a function of a sync SQLAlchemy ``Connection``, handed over with ``GroupCommitter.run``.
The thread takes every write queued meanwhile (up to ``max_batch``), runs them in order inside ONE
``BEGIN IMMEDIATE`` transaction, commits, and only then resolves each caller's future: concurrent
writers share one commit instead of taking turns through the event loop.

- A future resolves after the transaction holding its write committed, or with the exception of
  that write alone: when a write fails, the batch is rolled back and each of its writes runs again
  in a transaction of its own. A write may therefore run twice; it must only touch the database.
- Writes commit in the order ``run`` was called. ``exclusive()`` hands the database to an async
  writer between two batches, in that same order (the thread waits until it is done).
- A caller that is cancelled while waiting does not undo its write.
- ``close`` commits everything queued before it, then stops the thread.

WAL checkpoints (copying the log into the database file, with an fsync) would stall the batch
whose commit crosses SQLite's automatic threshold; the writer's connection turns them off. A
second thread runs a PASSIVE checkpoint (which never blocks the writer) at most every
``checkpoint_interval_s`` while there are new commits; the writer then checkpoints the few frames
committed meanwhile between two batches, so that the log is complete and restarts from its
beginning (a log only ever checkpointed beside a busy writer would grow without end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import URL

from relayflow.store.sql.types import dumps, loads

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class _Write:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Pause:
    """The database handed to an async writer: ``go`` once it is its turn, ``done`` when it ends."""

    go: asyncio.Future[None]
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class GroupCommitter:
    def __init__(
        self,
        url: URL,
        *,
        on_connect: Callable[[Any, Any], None],
        max_batch: int = 512,
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        """``url``: the SQLite file (any driver name); ``on_connect``: pragmas for a new connection."""
        self.max_batch = max_batch
        self.checkpoint_interval_s = checkpoint_interval_s
        self._engine = create_engine(
            url.set(drivername="sqlite"), json_serializer=dumps, json_deserializer=loads
        )
        event.listen(self._engine, "connect", on_connect)
        event.listen(self._engine, "connect", _autocommit_driver)
        event.listen(self._engine, "begin", _begin_immediate)
        self._queue: queue.SimpleQueue[_Write | _Pause | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._committed = threading.Event()  # set by a commit, cleared by a checkpoint
        self._checkpointed = threading.Event()  # the writer's turn to finish a checkpoint
        self._stopping = threading.Event()
        self._closed = False

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn``'s result once its transaction committed; its exception if it failed alone."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        write = _Write(fn, asyncio.get_running_loop().create_future())
        self._queue.put(write)
        self._start()
        result: T = await write.future
        return result

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """No batch commits inside this block; the writes queued before it have committed."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        pause = _Pause(asyncio.get_running_loop().create_future())
        self._queue.put(pause)
        self._start()
        try:
            await pause.go
            yield
        finally:
            pause.done.set()

    async def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._checkpointer is not None:
            self._stopping.set()
            self._committed.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        self._engine.dispose()

    def _start(self) -> None:
        if self._thread is None:
            # each thread is started before it is published, so close() never joins an unstarted one
            checkpointer = threading.Thread(
                target=self._checkpoint, name="relayflow-wal-checkpoint", daemon=True
            )
            checkpointer.start()
            self._checkpointer = checkpointer
            thread = threading.Thread(target=self._serve, name="relayflow-group-commit", daemon=True)
            thread.start()
            self._thread = thread

    def _checkpoint(self) -> None:
        while not self._stopping.is_set():
            self._committed.wait()
            if self._stopping.is_set():
                return
            self._committed.clear()
            try:  # on the driver's connection: SQLAlchemy's would begin a (write) transaction
                conn = self._engine.raw_connection()
                try:
                    conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
                finally:
                    conn.close()
                self._checkpointed.set()
            except Exception:  # the next commit retries; SQLite checkpoints at close anyway
                log.exception("WAL checkpoint failed")
            self._stopping.wait(self.checkpoint_interval_s)

    def _serve(self) -> None:
        stop = False
        try:
            with self._engine.connect() as conn:
                while not stop:
                    batch, pause, stop = self._take()
                    if batch:
                        self._commit(conn, batch)
                        _settle(batch)
                        self._committed.set()
                        if self._checkpointed.is_set():
                            self._checkpointed.clear()
                            _finish_checkpoint(conn)
                    if pause is not None:
                        _hand_over(pause)
        except BaseException as exc:  # the thread is going away: no caller may wait forever
            log.exception("the group committer stopped")
            self._closed = True
            self._fail_queued(exc)

    def _take(self) -> tuple[list[_Write], _Pause | None, bool]:
        """The next batch: queued writes up to a pause, a stop or ``max_batch``."""
        batch: list[_Write] = []
        item = self._queue.get()
        while True:
            if item is _STOP:
                return batch, None, True
            if isinstance(item, _Pause):
                return batch, item, False
            assert isinstance(item, _Write)
            batch.append(item)
            if len(batch) >= self.max_batch:
                return batch, None, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, None, False

    def _commit(self, conn: Connection, batch: list[_Write]) -> None:
        try:
            with conn.begin():
                for write in batch:
                    write.result = write.fn(conn)
        except BaseException as exc:  # whatever a write raises is its caller's, never the thread's
            if len(batch) == 1:
                batch[0].error = exc
                return
            for write in batch:  # find the bad write(s): each on its own
                self._commit(conn, [write])

    def _fail_queued(self, exc: BaseException) -> None:
        error = RuntimeError(f"the group committer stopped: {exc!r}")
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Write):
                item.error = error
                _settle([item])
            elif isinstance(item, _Pause):
                _hand_over(item)


def _settle(batch: list[_Write]) -> None:
    """Resolve the futures on their loop(s), one callback per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Write]] = {}
    for write in batch:
        by_loop.setdefault(write.future.get_loop(), []).append(write)
    for loop, writes in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, writes)


def _resolve(writes: list[_Write]) -> None:
    for write in writes:
        if write.future.done():  # the caller was cancelled
            continue
        if write.error is not None:
            write.future.set_exception(write.error)
        else:
            write.future.set_result(write.result)


def _hand_over(pause: _Pause) -> None:
    """Let the async writer in, and wait until it is done."""
    with contextlib.suppress(RuntimeError):
        pause.go.get_loop().call_soon_threadsafe(_open, pause.go)
    pause.done.wait()


def _open(go: asyncio.Future[None]) -> None:
    if not go.done():
        go.set_result(None)


def _finish_checkpoint(conn: Connection) -> None:
    try:  # outside any transaction: the driver's connection, not SQLAlchemy's (it would begin one)
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
    except Exception:
        log.exception("WAL checkpoint failed")


def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    """Transactions are begun by SQLAlchemy's ``begin`` event, not by the driver; checkpoints are
    the checkpoint thread's."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _begin_immediate(conn: Connection) -> None:
    # take the write lock at BEGIN: a deferred transaction could fail to upgrade when another
    # connection (another process, the async engine) writes
    conn.exec_driver_sql("BEGIN IMMEDIATE")
