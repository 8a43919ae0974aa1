"""Isolation and limits: no host access, no state leaking between evaluations, clear errors on
time and memory limits, and a usable engine afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from relayflow.errors import ExpressionError
from relayflow.expressions import Limits, V8ExpressionEngine
from tests.unit.expressions.conftest import ev, one, scope


@pytest.fixture(scope="module")
def tight() -> Iterator[V8ExpressionEngine]:
    eng = V8ExpressionEngine(Limits(timeout_base_s=0.3, timeout_per_item_s=0, memory_bytes=96 * 1024 * 1024))
    yield eng
    eng.close()


@pytest.mark.parametrize(
    "probe",
    [
        "require('fs')",
        "process.env",
        "globalThis.process.env",
        "this.constructor.constructor('return process')().env",
        "({}).constructor.constructor('return process')()",
        "eval('process.env')",
        "Function('return this')().process.env",
        "import('fs')",
        "fetch('http://127.0.0.1/')",
        "new XMLHttpRequest()",
        "WebAssembly.compile(new Uint8Array(8))",
        "Deno.env",
        "Bun.env",
        "__rf_unknown_host_binding()",
    ],
)
async def test_no_host_access(engine: V8ExpressionEngine, probe: str) -> None:
    with pytest.raises(ExpressionError):
        await one(engine, "{{ " + probe + " }}")


async def test_host_names_are_undefined(engine: V8ExpressionEngine) -> None:
    names = ["require", "process", "fetch", "module", "exports", "Buffer", "WebAssembly", "XMLHttpRequest"]
    got = await one(engine, "{{ [" + ", ".join(f"typeof {n}" for n in names) + "] }}")
    assert got == ["undefined"] * len(names)


async def test_pollution_does_not_leak_into_later_evaluations(engine: V8ExpressionEngine) -> None:
    attack = (
        "{{ (() => { try { Object.prototype.polluted = 1 } catch (e) {} "
        "try { Array.prototype.map = () => 'hacked' } catch (e) {} "
        "try { JSON.parse = () => 'hacked' } catch (e) {} "
        "try { Math = null } catch (e) {} "
        "globalThis.leaked = 'secret'; return 1 })() }}"
    )
    assert await one(engine, attack) == 1
    check = "{{ [({}).polluted, [1].map(x => x + 1), JSON.parse('2'), typeof Math.max, typeof leaked] }}"
    assert await one(engine, check) == [None, [2], 2, "function", "undefined"]


async def test_instances_can_still_override_inherited_methods(engine: V8ExpressionEngine) -> None:
    code = (
        "{{ (() => { const o = {}; o.toString = () => 'mine'; "
        "class E extends Error { constructor(m) { super(m); this.name = 'Custom' } } "
        "return String(o) + '/' + new E('x').name + '/' + ({}).toString() })() }}"
    )
    assert await one(engine, code) == "mine/Custom/[object Object]"


async def test_infinite_loop_hits_the_time_limit_and_the_engine_recovers(tight: V8ExpressionEngine) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="time limit"):
        await one(tight, "{{ (() => { while (true) {} })() }}")
    assert time.monotonic() - started < 5
    assert await one(tight, "{{ 'still ' + 'working' }}") == "still working"


async def test_memory_limit_and_recovery() -> None:
    # a generous time limit, so the memory limit is what stops the loop even on a busy machine
    roomy = V8ExpressionEngine(Limits(timeout_base_s=30, timeout_per_item_s=0, memory_bytes=96 * 1024 * 1024))
    try:
        with pytest.raises(ExpressionError, match="memory"):
            await one(
                roomy,
                "{{ (() => { const a = []; while (true) a.push(new Array(1e5).fill(Math.random())) })() }}",
            )
        assert await one(roomy, "{{ [1, 2, 3].length }}") == 3
    finally:
        roomy.close()


@pytest.mark.parametrize(
    "probe",
    [
        "new Array(2 ** 31 - 1).fill(0)",
        "Array.from({length: 2 ** 31 - 1})",
        "new Array(2 ** 32 - 1).slice(0)",
        "Array(2 ** 31 - 1).sort()",
        "'x'.repeat(2 ** 28).split('')",
        "new Uint8Array(2 ** 31)",
        "new ArrayBuffer(2 ** 30)",
        "(new (new Uint8Array(1)).constructor(2 ** 30))",
    ],
)
async def test_huge_allocations_are_refused(tight: V8ExpressionEngine, probe: str) -> None:
    # some of these abort the whole process in plain V8; here they are a clear error
    with pytest.raises(ExpressionError, match=r"too large|memory"):
        await one(tight, "{{ " + probe + " }}")
    assert await one(tight, "{{ 40 + 2 }}") == 42


async def test_results_that_are_not_data(engine: V8ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="cannot be converted to JSON"):
        await one(engine, "{{ (() => { const a = {}; a.self = a; return a })() }}")
    with pytest.raises(ExpressionError, match="Promise"):
        await one(engine, "{{ Promise.resolve(1) }}")
    with pytest.raises(ExpressionError, match="call stack"):
        await one(engine, "{{ (function f() { return f() })() }}")


async def test_concurrent_evaluations_share_the_pool_safely(engine: V8ExpressionEngine) -> None:
    async def batch(k: int) -> list[object]:
        s = scope([{"v": i, "k": k} for i in range(3_000)])
        return await ev(engine, "{{ $json.v.toString() + '-' + $json.k }}", s)

    results = await asyncio.gather(*(batch(k) for k in range(8)))
    for k, out in enumerate(results):
        assert out[0] == f"0-{k}" and out[-1] == f"2999-{k}" and len(out) == 3_000


async def test_user_code_cannot_drive_the_sandbox(engine: V8ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="not available"):
        await one(engine, '{{ __rf.dispatch(\'{"op":"check","src":"1"}\') }}')
    with pytest.raises(ExpressionError, match="sealed"):
        await one(engine, "{{ __rf.addOp('x', () => 1) }}")
    # re-sealing would keep the global below alive across evaluations
    assert await one(engine, "{{ (globalThis.kept = 1, __rf.sealBaseline(), 1) }}") == 1
    assert await one(engine, "{{ typeof kept }}") == "undefined"


async def test_nothing_scheduled_outlives_its_call(engine: V8ExpressionEngine) -> None:
    # a timer or a microtask set by one evaluation must not act during a later one
    plant = (
        "{{ (setTimeout(() => { globalThis.late = 'timer' }, 0), "
        "Promise.resolve().then(() => { globalThis.micro = 'task' }), typeof Atomics) }}"
    )
    assert await one(engine, plant) == "undefined"
    assert await one(engine, "{{ [typeof late, typeof micro, typeof __timer_manager] }}") == ["undefined"] * 3
