"""The expression engine: compile ``{{ }}`` templates once, evaluate them per batch of items.

A template the fast path understands is evaluated by a Python function generated for it
(``fastgen``; per-item closures where that is not possible); the items it cannot answer exactly
(and every other template) go to V8 in one batched call per chunk of items. Code node
runs use the same sandbox (``run_code``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from relayflow.engine.expression import ExpressionScope
from relayflow.errors import ExpressionError
from relayflow.expressions import jsvalue as jsv
from relayflow.expressions import payload
from relayflow.expressions.fastgen import Batch, closure_batch, compile_batch
from relayflow.expressions.fastops import Frame
from relayflow.expressions.fastpath import NotSimple, compile_expression
from relayflow.expressions.sandbox import Call, ContextPool, Limits, SandboxFailure, V8Context
from relayflow.expressions.template import Code, Needs, analyse, is_single, js_function_source, split_template

FastFn = Callable[[Frame, dict[str, Any], int], Any]
# batches up to this size run on the calling thread when a context is free (well under 50 ms)
INLINE_MAX_ITEMS = 2_000
# how long a small call may block the calling thread before its result is awaited on the loop
INLINE_WAIT_S = 0.0005
# items per V8 call, and per fast-path slice between two yields to the event loop
V8_CHUNK = 50_000
FAST_CHUNK = 10_000
_CACHE_MAX = 20_000
_EMPTY: dict[str, Any] = {"json": {}}


@dataclass(eq=False)
class Template:
    """A compiled template (the engine port's ``Compiled``)."""

    source: str
    single: bool
    js: str
    needs: Needs
    uses_now: bool
    # the fast path: per item (closures), and per batch of items (generated code, what runs)
    fast: FastFn | None = None
    batch: Batch | None = None


def _fast_template(parts: list[str | Code], single: bool) -> tuple[FastFn, Batch] | None:
    """The fast path of a template: a per-item closure and the compiled column function."""
    pieces: list[tuple[str, FastFn | None]] = []
    for p in parts:
        if not isinstance(p, Code):
            pieces.append((p, None))
            continue
        if p.tokens is None:
            return None
        try:
            pieces.append(("", compile_expression(p.tokens)))
        except (NotSimple, ValueError, RecursionError):
            return None
    fast = _closure_template(pieces, single)
    try:
        batch = compile_batch(pieces, single)
    except (SyntaxError, RecursionError, MemoryError, ValueError):  # too deeply nested for Python
        batch = closure_batch(fast)
    return fast, batch


def _closure_template(pieces: list[tuple[str, FastFn | None]], single: bool) -> FastFn:
    if single:
        ev = next(e for _, e in pieces if e is not None)

        def typed(f: Frame, it: dict[str, Any], i: int) -> Any:
            v = ev(f, it, i)
            t = type(v)
            # ints reaching here are safe (data and arithmetic are checked); the rest needs export
            return v if t is str or t is int or t is bool or v is None else jsv.export(v)

        return typed
    frozen = tuple(pieces)
    return lambda f, it, i: "".join(t if e is None else jsv.interpolate(e(f, it, i)) for t, e in frozen)


def _uses_now(parts: list[str | Code]) -> bool:
    for p in parts:
        if isinstance(p, Code):
            if p.tokens is None:
                return True
            if any(t.kind == "ident" and t.value in ("$now", "$today") for t in p.tokens):
                return True
    return False


def _decode_numbers(values: list[Any]) -> list[Any]:
    return [float(v["$rfnum"]) if type(v) is dict and len(v) == 1 and "$rfnum" in v else v for v in values]


class V8ExpressionEngine:
    """relayflow's ``ExpressionEngine``: a Python fast path in front of a pool of V8 contexts."""

    def __init__(self, limits: Limits | None = None, *, fast_path: bool = True) -> None:
        self.limits = limits or Limits()
        self.pool = ContextPool(self.limits)
        self.fast_path = fast_path
        self._cache: dict[str, Template] = {}

    # compile ------------------------------------------------------------------------------------
    def compile(self, template: str) -> Template:
        t = self._cache.get(template)
        if t is None:
            t = self._build(template)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[template] = t
        return t

    def _build(self, template: str) -> Template:
        parts = split_template(template)
        single = is_single(parts)
        needs = Needs()
        for p in parts:
            if isinstance(p, Code):
                needs.merge(analyse(p.tokens))
        fast = _fast_template(parts, single) if self.fast_path else None
        t = Template(template, single, js_function_source(parts, single), needs, _uses_now(parts))
        if fast is not None:
            t.fast, t.batch = fast
        else:
            self._check_syntax(t)
        return t

    def _check_syntax(self, t: Template) -> None:
        """Report a JavaScript syntax error now; skipped (left to evaluation) when no context is free."""
        ctx = self.pool.try_acquire()
        if ctx is None:
            if not self.pool.can_grow():
                return
            ctx = self.pool.acquire()
        try:
            problem = ctx.call({"op": "check", "src": t.js}, self.limits.timeout_base_s).get("ok", "")
        except SandboxFailure:
            return
        finally:
            self.pool.release(ctx)
        if problem:
            raise ExpressionError(f"invalid expression: {problem}", expression=t.source)

    # evaluate -----------------------------------------------------------------------------------
    async def evaluate(self, compiled: Any, scope: ExpressionScope, indexes: Sequence[int]) -> list[Any]:
        t = compiled if isinstance(compiled, Template) else self.compile(compiled.source)
        if not indexes:
            return []
        if t.batch is None:
            return await self._v8(t, scope, list(indexes))
        out: list[Any] = []
        missing: list[int] = []
        f = Frame(scope, scope.items)
        items = scope.items
        n = len(items)
        whole = isinstance(indexes, range) and indexes.step == 1 and indexes.start >= 0 and indexes.stop <= n
        for start in range(0, len(indexes), FAST_CHUNK):
            if start:
                await asyncio.sleep(0)
            ids = indexes[start : start + FAST_CHUNK]
            its = items[ids[0] : ids[-1] + 1] if whole else [items[i] if 0 <= i < n else _EMPTY for i in ids]
            t.batch(f, ids, its, out, missing)
        if missing:
            values = await self._v8(t, scope, [indexes[k] for k in missing])
            for k, v in zip(missing, values, strict=True):
                out[k] = v
        return out

    async def _v8(self, t: Template, scope: ExpressionScope, idx: list[int]) -> list[Any]:
        out: list[Any] = []
        # every call would ship all the items anyway: one call
        step = len(idx) if t.needs.all_items or t.needs.dynamic_nodes else V8_CHUNK
        for start in range(0, len(idx), step):
            chunk = idx[start : start + step]
            timeout = self.limits.timeout_base_s + self.limits.timeout_per_item_s * len(chunk)

            def make(chunk: list[int] = chunk) -> dict[str, Any]:
                p = payload.build(scope, t.needs, chunk)
                p.update(op="eval", src=t.js, single=t.single, usesNow=t.uses_now)
                return p

            try:
                result = await self._once(make, timeout, small=len(chunk) <= INLINE_MAX_ITEMS)
            except SandboxFailure as exc:
                raise ExpressionError(self._failure_text(exc), expression=t.source) from None
            out.extend(self._decode(result, t, chunk))
        return out

    async def _once(
        self, make: Callable[[], dict[str, Any]], limit_s: float, *, small: bool
    ) -> dict[str, Any]:
        ctx = await self._acquire(small)
        try:
            return await self._exchange(ctx, make, limit_s, small)
        finally:
            self.pool.release(ctx)

    async def _acquire(self, small: bool) -> V8Context:
        ctx = self.pool.try_acquire() if small else None
        return ctx if ctx is not None else await asyncio.to_thread(self.pool.acquire)

    async def _exchange(
        self, ctx: V8Context, make: Callable[[], dict[str, Any]], limit_s: float, small: bool
    ) -> dict[str, Any]:
        """One call. Small ones start on this thread and wait here briefly, then on the event loop
        (V8 runs on its own thread either way); big ones (encoding, decoding) run in a worker."""
        if small:
            call = ctx.start(make(), limit_s)
            result = ctx.result(call, INLINE_WAIT_S)
            if result is None:
                result = await self._arrival(ctx, call)
            if result is not None:
                return result
            waiter = asyncio.ensure_future(asyncio.to_thread(ctx.wait, call))
        else:
            waiter = asyncio.ensure_future(asyncio.to_thread(lambda: ctx.wait(ctx.start(make(), limit_s))))
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            # stop the JavaScript; the context goes back to the pool (closed) once the waiting
            # thread has seen the end of the call, never while it is still in use
            ctx.broken = True
            ctx.cancel()
            waiter.add_done_callback(lambda f: self._after_abandon(f, ctx))
            raise

    async def _arrival(self, ctx: V8Context, call: Call) -> dict[str, Any] | None:
        """The call's result, awaited on the event loop (V8's thread wakes it up); None when
        the context cannot signal it or the deadline passed (then a thread waits, and times out).
        A call that left microtasks behind may need a second answer (sandbox: its settle task)."""
        loop = asyncio.get_running_loop()
        while True:
            fut = ctx.arrival(loop)
            if fut is None:
                return None
            try:
                await asyncio.wait_for(fut, max(call.deadline - time.monotonic(), 0.0))
            except TimeoutError:
                return None
            except asyncio.CancelledError:
                ctx.broken = True
                ctx.cancel()
                waiter = asyncio.ensure_future(asyncio.to_thread(ctx.wait, call))
                waiter.add_done_callback(lambda f: self._after_abandon(f, ctx))
                raise
            result = ctx.result(call, 0.0)
            if result is not None:
                return result

    def _after_abandon(self, fut: asyncio.Future[Any], ctx: V8Context) -> None:
        if not fut.cancelled():
            fut.exception()  # retrieved: a SandboxFailure here is expected
        self.pool.release(ctx)

    def _failure_text(self, exc: SandboxFailure) -> str:
        if exc.kind == "memory":
            mb = self.limits.memory_bytes // (1024 * 1024)
            return f"the expression used more memory than allowed ({mb} MB)"
        if exc.kind == "timeout":
            return f"the expression was stopped: {exc.message} (time limit)"
        return exc.message

    @staticmethod
    def _decode(result: dict[str, Any], t: Template, chunk: list[int]) -> list[Any]:
        if "ok" in result:
            values: list[Any] = result["ok"]
            if t.single and any(type(v) is dict and "$rfnum" in v for v in values):
                values = _decode_numbers(values)
            return values
        pos = result.get("pos")
        index = chunk[pos] if isinstance(pos, int) and 0 <= pos < len(chunk) else None
        message = str(result.get("err", "the expression failed"))
        if result.get("kind") == "syntax":
            message = f"invalid expression: {message}"
        raise ExpressionError(message, item_index=index, expression=t.source)

    # Code nodes ---------------------------------------------------------------------------------
    async def run_code(
        self, scope: ExpressionScope, request: dict[str, Any], needs: Needs, timeout_s: float
    ) -> dict[str, Any]:
        """Run Code-node code (see ``relayflow.expressions.code``); async code is polled until done."""
        deadline = time.monotonic() + timeout_s
        small = len(scope.items) <= INLINE_MAX_ITEMS

        def make() -> dict[str, Any]:
            p = payload.build(scope, needs, range(len(scope.items)))
            p.update(request, op="code")
            return p

        ctx = await self._acquire(small)
        try:
            result = await self._exchange(ctx, make, timeout_s, small)
            delay = 0.0002
            while result.get("pending"):
                left = deadline - time.monotonic()
                if left <= 0:
                    ctx.broken = True
                    raise SandboxFailure("timeout", f"the code took longer than {timeout_s:g} s")
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 0.005)
                result = await self._exchange(ctx, lambda: {"op": "poll"}, max(left, 0.001), True)
            return result
        finally:
            self.pool.release(ctx)

    def close(self) -> None:
        self.pool.close()
