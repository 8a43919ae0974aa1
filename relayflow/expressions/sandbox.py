"""V8 contexts (mini-racer) with our prelude loaded, and the pool that reuses them.

A context is used by one thread at a time (the pool hands it out); a call ships one JSON string
in and gets one JSON string back. Calls go straight to mini-racer's task API on the calling
thread (about 50 µs per call instead of about 300 µs through its asyncio bridge); where that API
is missing (another mini-racer version) the public ``MiniRacer.call`` is used instead.

A context that timed out, hit its memory limit, or was changed in a way the prelude cannot undo
is closed, never reused.

mini-racer runs the microtasks a call queued (promise reactions, ``await``) after it has delivered
the call's result, outside the call's time limit: an endless chain of them would hold the context,
and the next call on it (maybe another execution's) would time out. So a call ends only once V8
has run them all, within the call's time limit. The call wakes an ``Atomics.waitAsync`` waiter of
its own; V8 resolves it in a task, which it starts only once the microtask queue is empty, and the
reaction writes the call's number into memory shared with Python (js/core.js ``armMark``).
Reading that costs no round trip. When the number is late (V8 busy with those microtasks, or
with a GC task), a task posted to ``__rf.settle`` answers instead: its answer wakes the waiter,
in a thread or on the event loop, and a call that reaches its deadline first fails as timed out.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from py_mini_racer import JSEvalException, JSOOMException, MiniRacer

# payloads below this size travel in an eval'd string literal (one round trip), above it as an argument
_EVAL_MAX_CHARS = 256 * 1024
# how long a caller polls the shared number of its call's end before asking V8 with a task (it
# usually lands within a few µs of the call's result; the task costs a V8 round trip)
_MARK_SPIN_S = 0.0001
PRELUDE_FILES = (
    "core.js",
    "guards.js",
    "duration.js",
    "datetime.js",
    "format.js",
    "hash.js",
    "jmespath.js",
    "ext.js",
    "code.js",
    "lockdown.js",
)


@dataclass(frozen=True)
class Limits:
    """Resource limits of the sandbox (see the package docstring for their meaning)."""

    # an expression call gets base + per item; a Code node run gets code_timeout_s
    timeout_base_s: float = 1.0
    timeout_per_item_s: float = 0.0001
    code_timeout_s: float = 60.0
    memory_bytes: int = 512 * 1024 * 1024
    max_contexts: int = 4


class SandboxFailure(Exception):
    """The call did not complete: ``kind`` is "timeout", "memory" or "crash"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def prelude_source() -> str:
    pkg = resources.files("relayflow.expressions") / "js"
    return "\n;\n".join((pkg / name).read_text(encoding="utf-8") for name in PRELUDE_FILES)


@dataclass
class Call:
    """One call in flight on a context."""

    text: str
    deadline: float
    timeout_s: float
    seq: int = 0
    task: Any = None
    # the call's own answer once it has arrived, and the settle task if one was posted
    answer: str | None = None
    settle: Any = None


class _Results(queue.Queue[Any]):
    """mini-racer's queue of call results, which also wakes an asyncio future when one arrives
    (it is filled on V8's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        with self._guard:
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, fut = waiter
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_wake, fut)

    def arrival(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = loop.create_future()
        with self._guard:
            if self.empty():
                self._waiter = (loop, fut)
            else:
                fut.set_result(None)
        return fut


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _new_racer() -> MiniRacer:
    """A MiniRacer that owns its helper event loop (never bound to the caller's asyncio loop)."""
    box: list[Any] = []

    def make() -> None:
        try:
            box.append(MiniRacer())
        except BaseException as exc:  # re-raised in the caller's thread
            box.append(exc)

    t = threading.Thread(target=make, name="relayflow-v8-init", daemon=True)
    t.start()
    t.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    racer: MiniRacer = box[0]
    return racer


class V8Context:
    def __init__(self, limits: Limits, prelude: str) -> None:
        self.limits = limits
        self.broken = False
        # the call whose result nobody has collected yet: the context is not reusable until then
        self.inflight: Call | None = None
        self._seq = 0
        self._mark: memoryview | None = None
        self._mr = _new_racer()
        try:
            self._mr.set_hard_memory_limit(limits.memory_bytes)
            self._mr.eval(prelude, timeout_sec=30)
            # every payload carries this key: user code never sees it, so a callback of its that
            # runs between two calls cannot drive the dispatcher (js/core.js RF.lock)
            self._key = secrets.token_hex(16)
            mark = self._mr.eval(f"__rf.lock('{self._key}')", timeout_sec=30)
            self._direct = self._setup_direct()
            if self._direct and isinstance(mark, memoryview) and mark.nbytes == 12:
                # [the last call whose microtasks have all run, the call in flight, unused]
                self._mark = mark.cast("i")
        except BaseException:
            self._mr.close()
            raise

    def _setup_direct(self) -> bool:
        ctx = getattr(self._mr, "_ctx", None)
        needed = ("_dll", "_ctx", "_python_to_value_handle", "_value_handle_to_python", "_wrap_raw_handle",
                  "_non_cancelable_mr_task_results_queue")  # fmt: skip
        if ctx is None or not all(hasattr(ctx, n) for n in needed):
            return False
        self._c = ctx
        self._results: queue.Queue[Any] = ctx._non_cancelable_mr_task_results_queue
        if type(self._results) is queue.Queue and self._results.empty():
            # the same queue, which can also wake an asyncio waiter (no thread hand-off)
            self._results = _Results()
            object.__setattr__(ctx, "_non_cancelable_mr_task_results_queue", self._results)
        fn = self._mr.eval("__rf.dispatch")
        settle = self._mr.eval("__rf.settle")
        argv = self._mr.eval("[]")
        argv.append("")  # type: ignore[union-attr]
        no_args = self._mr.eval("[]")
        self._fn_h = ctx._python_to_value_handle(fn)
        self._settle_h = ctx._python_to_value_handle(settle)
        self._argv_h = ctx._python_to_value_handle(argv)
        self._no_args_h = ctx._python_to_value_handle(no_args)
        self._this_h = ctx._python_to_value_handle(None)
        self._zero_h = ctx._python_to_value_handle(0)
        self._keep: tuple[Any, ...] = (fn, settle, argv, no_args)
        return True

    def start(self, payload: dict[str, Any], timeout_s: float) -> Call:
        """Post one payload to ``__rf.dispatch``; the call runs on V8's own thread."""
        text = orjson.dumps({**payload, "key": self._key}, default=_json_default).decode()
        self._seq = self._seq % 0x3FFFFFFF + 1
        call = Call(text, time.monotonic() + timeout_s, timeout_s, self._seq)
        self.inflight = call
        if self._mark is not None:
            self._mark[1] = self._seq  # read by the call (js/core.js armMark)
        if self._direct:
            call.task = self._post(text)
        return call

    def arrival(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A future of ``loop`` done once the call in flight has a result to collect (None: this
        mini-racer cannot tell; wait in a thread instead)."""
        results = self._results if self._direct else None
        return results.arrival(loop) if isinstance(results, _Results) else None

    def cancel(self) -> None:
        """Ask V8 to stop the call in flight (its waiter then sees a terminated call)."""
        call = self.inflight
        if call is not None and self._direct and call.task is not None:
            self._c._dll.mr_cancel_task(self._c._ctx, call.task)
            if call.settle is not None:
                self._c._dll.mr_cancel_task(self._c._ctx, call.settle)

    def result(self, call: Call, wait_s: float) -> dict[str, Any] | None:
        """The call's result if it arrives within ``wait_s`` (and its deadline), else None."""
        return self._finish(call, wait_s)

    def wait(self, call: Call) -> dict[str, Any]:
        """The call's result; blocks until it arrives or the deadline passes (SandboxFailure)."""
        result = self._finish(call, None)
        if result is None:  # pragma: no cover - _finish only returns None when wait_s is given
            raise SandboxFailure("crash", "no result")
        return result

    def call(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        return self.wait(self.start(payload, timeout_s))

    def _finish(self, call: Call, wait_s: float | None) -> dict[str, Any] | None:
        try:
            raw = self._collect(call, wait_s)
            if raw is not None:
                self.inflight = None
        except JSOOMException:
            self.broken = True
            self.inflight = None
            raise SandboxFailure("memory", "the expression ran out of memory") from None
        except TimeoutError:
            self.broken = True
            self.inflight = None
            raise SandboxFailure("timeout", f"the call took longer than {call.timeout_s:g} s") from None
        except JSEvalException as exc:
            self.broken = True
            self.inflight = None
            if self._mr.was_hard_memory_limit_reached():
                raise SandboxFailure("memory", "the expression ran out of memory") from None
            raise SandboxFailure("crash", f"the JavaScript engine failed: {exc}") from None
        if raw is None:
            return None
        if self._mr.was_hard_memory_limit_reached():
            self.broken = True
        try:
            result: dict[str, Any] = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            # JSON.stringify in V8 nests deeper than orjson reads (1,024 levels)
            reason = "nests deeper than 1,024 levels" if "depth" in str(exc) else "is not JSON"
            raise SandboxFailure("crash", f"the result {reason}") from None
        if result.get("poisoned"):
            self.broken = True
        return result

    def _post(self, text: str) -> Any:
        c = self._c
        if len(text) < _EVAL_MAX_CHARS:
            # one round trip: the payload travels inside the script as a string literal
            code = c._python_to_value_handle(
                f"__rf.dispatch('{text.replace(chr(92), chr(92) * 2).replace(chr(39), chr(92) + chr(39))}')"
            )
            return c._dll.mr_eval(c._ctx, code.raw, 0)
        # big payloads: set the string as the argument, then call (no JS parsing of a literal)
        arg = c._python_to_value_handle(text)
        c._value_handle_to_python(
            c._wrap_raw_handle(c._dll.mr_set_object_item(c._ctx, self._argv_h.raw, self._zero_h.raw, arg.raw))
        )
        return c._dll.mr_call_function(c._ctx, self._fn_h.raw, self._this_h.raw, self._argv_h.raw, 0)

    def _collect(self, call: Call, wait_s: float | None) -> str | None:
        """The call's answer once V8 has also run the microtasks the call left (None: not
        within ``wait_s``)."""
        now = time.monotonic()
        remaining = call.deadline - now
        if not self._direct:
            if wait_s is not None:
                return None
            return self._invoke_public(call, max(remaining, 0.001))
        end = now + max(remaining if wait_s is None else min(wait_s, remaining), 0.0)
        c = self._c
        if call.answer is None:
            try:
                handle = self._results.get(timeout=end - now)
            except queue.Empty:
                if wait_s is not None and remaining > wait_s:
                    return None
                c._dll.mr_cancel_task(c._ctx, call.task)
                try:
                    self._results.get(timeout=5)
                except queue.Empty:
                    pass
                raise TimeoutError from None
            call.answer = _text(c._value_handle_to_python(handle))
        mark = self._mark
        if mark is not None and call.settle is None and mark[0] == call.seq:
            return call.answer  # the usual case: V8 is done already (see _settled)
        if not self._settled(call, end):
            if wait_s is not None and remaining > wait_s:
                return None
            # the call is over but its microtasks still run: no task is on, so nothing can be
            # cancelled; closing the context (it is broken now) is what stops them
            raise TimeoutError
        return call.answer

    def _settled(self, call: Call, end: float) -> bool:
        """Whether V8 has run every microtask the call queued: its mark, else a settle task."""
        c = self._c
        if call.settle is None:
            mark = self._mark
            if mark is not None:
                stop = min(call.deadline, time.monotonic() + _MARK_SPIN_S)
                while True:
                    seen = mark[0]
                    if seen == call.seq or seen == -call.seq:
                        if seen < 0:
                            self.broken = True  # the global object could not be cleaned
                        return True
                    if time.monotonic() >= stop:
                        break
                    _pause()
            call.settle = c._dll.mr_call_function(
                c._ctx, self._settle_h.raw, self._this_h.raw, self._no_args_h.raw, 0
            )
        try:
            handle = self._results.get(timeout=max(end - time.monotonic(), 0.0))
        except queue.Empty:
            return False
        if c._value_handle_to_python(handle) is not True:
            self.broken = True
        return True

    def _invoke_public(self, call: Call, timeout_s: float) -> str:
        answer = _text(self._mr.call("__rf.dispatch", call.text, timeout_sec=timeout_s))
        left = max(call.deadline - time.monotonic(), 0.001)
        if self._mr.call("__rf.settle", timeout_sec=left) is not True:
            self.broken = True
        return answer

    def close(self) -> None:
        self.broken = True
        self._keep = ()
        self._mark = None  # points into the context's memory
        self._mr.close()


_sched_yield = getattr(os, "sched_yield", None)  # not on every platform


def _pause() -> None:
    """Drop the GIL for a moment: V8's thread may be waiting for it to deliver a result."""
    if _sched_yield is not None:
        _sched_yield()
    else:
        time.sleep(0)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise JSEvalException(f"unexpected result {type(value).__name__}")
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class ContextPool:
    """Up to ``limits.max_contexts`` contexts, created on demand and reused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._prelude: str | None = None
        self._free: list[V8Context] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        _POOLS.add(self)

    @property
    def prelude(self) -> str:
        if self._prelude is None:
            self._prelude = prelude_source()
        return self._prelude

    def try_acquire(self) -> V8Context | None:
        """A free context without waiting, or None."""
        with self._cond:
            return self._free.pop() if self._free else None

    def acquire(self, timeout_s: float = 60.0) -> V8Context:
        """A free context, creating one if the pool is not full; waits otherwise (not on the event loop)."""
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxFailure("crash", "the expression engine is closed")
                if self._free:
                    return self._free.pop()
                if self._count < self.limits.max_contexts:
                    self._count += 1
                    break
                if not self._cond.wait(timeout_s):
                    raise SandboxFailure("timeout", "no JavaScript context became free in time")
        try:
            return V8Context(self.limits, self.prelude)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def can_grow(self) -> bool:
        with self._cond:
            return self._count < self.limits.max_contexts

    def release(self, ctx: V8Context) -> None:
        """Give a context back (closed if broken); ignored while a call is still in flight on it."""
        if ctx.inflight is not None:
            return
        discard = ctx.broken or self._closed
        with self._cond:
            if discard:
                self._count -= 1
            else:
                self._free.append(ctx)
            self._cond.notify()
        if discard:
            ctx.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            free, self._free = self._free, []
            self._count -= len(free)
            self._cond.notify_all()
        for ctx in free:
            ctx.close()


# Contexts own a helper thread; closing them at interpreter exit (before daemon threads stop)
# avoids a hang in mini-racer's finalizers.
_POOLS: weakref.WeakSet[ContextPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()
