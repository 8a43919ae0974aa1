"""Top-level functions of Code-node code created once per V8 context (``hoist.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.expressions import V8ExpressionEngine
from relayflow.expressions.code import CodeOutcome, run_js
from relayflow.expressions.hoist import hoistable
from relayflow.expressions.lexer import tokenize
from tests.unit.expressions.conftest import scope

FIB = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }\n"


def names(code: str) -> list[str]:
    return [name for name, _, _ in hoistable(code, tokenize(code))]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (FIB + "return $input.all().map(i => ({json: {n: i.json.n, fib: fib(20)}}))", ["fib"]),
        (
            "function f(n) { return g(n) + Math.max(n, 1) }\nfunction g(n) { return n * 2 }\nreturn f(1)",
            ["f", "g"],
        ),
        (
            "x = 5\nfunction f(n) { let t = n; for (let k = 0; k < 3; k++) t += k; return t }\nreturn f(x)",
            ["f"],
        ),
        ("function f(s) { return `${s} é` }\nreturn [{json: {v: f('a')}}]", ["f"]),
        # it reads a binding of the run: the top-level const, the run's variables
        ("function f(n) { return n + x }\nconst x = 1\nreturn f(1)", []),
        ("function f() { return $input.all().length }\nreturn f()", []),
        ("function f() { return items.length }\nreturn f()", []),
        # the function object itself is used, or the code rebinds a global it reads
        ("function f(n) { return n }\nf.cache = {}\nreturn f(1)", []),
        ("function f(n) { return n }\nreturn {f}", []),
        ("function f(n) { return n }\nreturn new f(1)", []),
        ("function f(n) { return Math.max(n, 1) }\nlet Math = 3\nreturn f(1)", []),
        ("function f(n) { return g(n) }\nfunction g(n) { return n }\nconst k = {g}\nreturn f(1)", []),
        # this / arguments / a declaration that is not a plain top-level statement
        ("function f(n) { return this }\nreturn f(1)", []),
        ("function f() { return arguments.length }\nreturn f(1)", []),
        ("if (a) function f(n) { return n }", []),
        ("const g = function f(n) { return n }\nreturn g(1)", []),
        ("async function f(n) { return n }\nreturn f(1)", []),
        ("function f(n) { return n }\nfunction f(n) { return 2 * n }\nreturn f(1)", []),
        ('"use strict";\nfunction f(n) { return n }\nreturn f(1)', []),
    ],
)
def test_what_is_hoisted(code: str, expected: list[str]) -> None:
    assert names(code) == expected


def test_offsets_count_utf16_units() -> None:
    code = "const s = '😀'\nfunction f(n) { return n }\nreturn f(s)"
    ((_, start, end),) = hoistable(code, tokenize(code))
    assert code.encode("utf-16-le")[start * 2 : end * 2].decode("utf-16-le") == "function f(n) { return n }"


async def run(
    engine: V8ExpressionEngine, code: str, items: list[dict[str, Any]] | None = None
) -> CodeOutcome:
    return await run_js(engine, scope(items or [{"n": 1}]), code, mode="all", kind="code", timeout_s=10)


async def test_hoisted_functions_give_the_same_results_run_after_run(engine: V8ExpressionEngine) -> None:
    code = FIB + "let calls = 0\ncalls++\nreturn $input.all().map(i => ({json: {fib: fib(i.json.n), calls}}))"
    assert names(code) == ["fib"]
    for _ in range(3):
        out = await run(engine, code, [{"n": 10}, {"n": 15}])
        assert out.ok, out.error
        assert out.result == [{"json": {"fib": 55, "calls": 1}}, {"json": {"fib": 610, "calls": 1}}]


async def test_globals_a_hoisted_function_creates_do_not_outlive_the_run(engine: V8ExpressionEngine) -> None:
    code = "function bump() { counter = (typeof counter === 'number' ? counter : 0) + 1; return counter }\n"
    code += "return [{json: {v: bump(), w: bump()}}]"
    assert names(code) == ["bump"]
    for _ in range(2):
        out = await run(engine, code)
        assert out.result == [{"json": {"v": 1, "w": 2}}]


async def test_no_state_can_be_attached_to_a_hoisted_function(engine: V8ExpressionEngine) -> None:
    # a sloppy callback can reach its caller: the shared function is frozen
    code = "function call(cb) { return cb() }\n"
    code += "return [{json: {v: call(function g() { const c = g.caller; c.hits = (c.hits || 0) + 1; return c.hits })}}]"
    assert names(code) == ["call"]
    first = await run(engine, code)
    second = await run(engine, code)
    assert first.ok and second.ok
    assert first.result == second.result


async def test_errors_in_a_hoisted_function_name_its_line(engine: V8ExpressionEngine) -> None:
    code = "const a = 1\nfunction boom(n) {\n  throw new Error('boom ' + n)\n}\nreturn [{json: {v: boom(a)}}]"
    assert names(code) == ["boom"]
    out = await run(engine, code)
    assert not out.ok
    assert out.error == "boom 1"
    assert out.line == 3


async def test_async_code_calls_hoisted_functions(engine: V8ExpressionEngine) -> None:
    code = (
        "function twice(n) { return 2 * n }\nconst v = await Promise.resolve(twice(4))\nreturn [{json: {v}}]"
    )
    assert names(code) == ["twice"]
    out = await run(engine, code)
    assert out.result == [{"json": {"v": 8}}]


async def test_each_item_mode_calls_hoisted_functions(engine: V8ExpressionEngine) -> None:
    code = "function sq(n) { return n * n }\nreturn {json: {sq: sq($json.n)}}"
    out = await run_js(engine, scope([{"n": 3}, {"n": 4}]), code, mode="each", kind="code", timeout_s=10)
    assert out.result == [{"json": {"sq": 9}}, {"json": {"sq": 16}}]
