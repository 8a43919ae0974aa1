"""The generated fast path (``fastgen``): whole columns, fallbacks mid-batch, index handling."""

from __future__ import annotations

import math
from typing import Any

import pytest

from relayflow.expressions import V8ExpressionEngine
from relayflow.expressions.fastgen import compile_batch, generate
from relayflow.expressions.fastops import Frame
from relayflow.expressions.fastpath import compile_expression
from relayflow.expressions.lexer import tokenize
from tests.unit.expressions.conftest import ev, scope
from tests.unit.expressions.test_properties import same

# every kind of value in one column: the generated code answers most, V8 the rest
COLUMN: list[Any] = [7, -3, 0, 2.5, -0.5, 0.0, "12", "abc", "", None, True, False, 2**60, -(2**60),
                     9007199254740991, [1, 2], {"x": 1}, 1e308]  # fmt: skip
TEMPLATES = [
    "{{ $json.v * 2 }}",
    "{{ $json.v * -2 }}",
    "{{ $json.v * 0 }}",
    "{{ $json.v + 1 }}",
    "{{ $json.v - 0.5 }}",
    "{{ $json.v / 4 }}",
    "{{ $json.v % 3 }}",
    "{{ $json.v >= 1000 }}",
    "{{ $json.v === 'abc' }}",
    "{{ $json.v == 12 }}",
    "{{ 'a' + $json.v }}",
    "{{ $json.v + $json.v }}",
    "{{ $json.v * $json.v }}",
    "{{ -$json.v }}",
    "{{ !$json.v }}",
    "{{ +$json.v }}",
    "{{ typeof $json.v }}",
    "{{ $json.v ?? 'none' }}",
    "{{ $json.v && $json.w }}",
    "{{ $json.v ? $itemIndex : $json.w }}",
    "{{ $json.v?.x }}",
    "{{ $json.v?.length }}",
    "x {{ $json.v }} y",
    "{{ $json.missing }}",
    "{{ $json.toString }}",
    "{{ $input.item.json.v }}",
]


def _items() -> list[dict[str, Any]]:
    return [{"v": v, "w": k} for k, v in enumerate(COLUMN)] + [{"w": 99}, {"v": {"x": "deep"}}]


@pytest.mark.parametrize("template", TEMPLATES)
async def test_a_column_agrees_with_v8(
    engine: V8ExpressionEngine, v8_only: V8ExpressionEngine, template: str
) -> None:
    assert engine.compile(template).batch is not None
    s = scope(_items())
    fast = await ev(engine, template, s)
    slow = await ev(v8_only, template, s)
    assert len(fast) == len(slow) == len(s.items)
    for k, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert same(a, b), f"{template} item {k} ({s.items[k]}): {a!r} != {b!r}"


def _batch(source: str, items: list[dict[str, Any]]) -> tuple[list[Any], list[int]]:
    fn = compile_batch([("", compile_expression(tokenize(source)))], True)
    out: list[Any] = []
    missing: list[int] = []
    s = scope(items)
    fn(Frame(s, s.items), range(len(items)), s.items, out, missing)
    return out, missing


def test_items_it_cannot_answer_are_left_to_v8() -> None:
    out, missing = _batch("$json.v * 2", [{"json": {"v": 3}}, {"json": {"v": 2**60}}, {"json": {"v": "4"}}])
    assert missing == [1]  # an unsafe integer: V8 decides how it rounds
    assert out == [6, None, 8]


def test_simple_templates_compile_to_inline_code() -> None:
    source, _ = generate([("", compile_expression(tokenize("$json.value * 2")))], True)
    assert "(f, it, i)" not in source  # no closure calls
    assert ".get('value', M)" in source and "* 2" in source


async def test_indexes_out_of_order_and_out_of_range(engine: V8ExpressionEngine) -> None:
    s = scope([{"n": 1}, {"n": 2}, {"n": 3}])
    out = await engine.evaluate(engine.compile("{{ $json.n * 10 + $itemIndex }}"), s, [2, 0, 5])
    assert out[:2] == [32, 10]
    assert math.isnan(out[2])  # item 5 does not exist: $json is {}, undefined * 10 is NaN


async def test_nesting_too_deep_for_python_source_still_runs(
    engine: V8ExpressionEngine, v8_only: V8ExpressionEngine
) -> None:
    template = "{{ " + "$json.n ? " * 110 + "$json.n" + " : 0" * 110 + " }}"  # if blocks 110 deep
    with pytest.raises((SyntaxError, RecursionError)):
        generate_and_compile(template)
    s = scope([{"n": 1}, {"n": 0}])
    assert engine.compile(template).batch is not None
    assert await ev(engine, template, s) == await ev(v8_only, template, s) == [1, 0]


def generate_and_compile(template: str) -> None:
    body = template.removeprefix("{{ ").removesuffix(" }}")
    compile_batch([("", compile_expression(tokenize(body)))], True)
