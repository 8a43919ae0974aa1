"""n8n's expression variables and typing rules, evaluated by the engine (fast path and V8)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from relayflow.errors import ExpressionError
from relayflow.expressions import V8ExpressionEngine
from tests.unit.expressions.conftest import ev, one, run_view, scope

ITEMS = [{"name": "Ada", "age": 36, "tags": ["a", "b"], "nested": {"k": "v"}}, {"name": "Bob", "age": 7}]


@pytest.fixture(params=["engine", "v8_only"])
def eng(request: pytest.FixtureRequest) -> V8ExpressionEngine:
    """Every test here runs twice: with the fast path, and on V8 alone."""
    e: V8ExpressionEngine = request.getfixturevalue(request.param)
    return e


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ $json.age }}", [36, 7]),
        ("{{ $json.age + 1 }}", [37, 8]),
        ("{{ $json.name + ' ' + $json.age }}", ["Ada 36", "Bob 7"]),
        ("{{ $json.tags }}", [["a", "b"], None]),
        ("{{ $json.nested }}", [{"k": "v"}, None]),
        ("{{ $json.age > 18 }}", [True, False]),
        ("{{ $json.missing }}", [None, None]),
        ("{{ null }}", [None, None]),
        ("{{ $itemIndex }}", [0, 1]),
        ("{{ $json.age / 2 }}", [18, 3.5]),
    ],
)
async def test_single_expressions_keep_their_type(
    eng: V8ExpressionEngine, template: str, expected: list[Any]
) -> None:
    assert await ev(eng, template, scope(ITEMS)) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{ $json.name }}!", ["Hi Ada!", "Hi Bob!"]),
        ("{{ $json.age }} years", ["36 years", "7 years"]),
        ("tags: {{ $json.tags }}", ['tags: ["a","b"]', "tags: "]),
        ("obj: {{ $json.nested }}", ['obj: {"k":"v"}', "obj: "]),
        ("[{{ $json.missing }}][{{ null }}]", ["[][]", "[][]"]),
        ("{{ 1 }}{{ 2 }}", ["12", "12"]),
        ("s={{ 0.1 + 0.2 }}", ["s=0.30000000000000004", "s=0.30000000000000004"]),
    ],
)
async def test_mixed_templates_interpolate(
    eng: V8ExpressionEngine, template: str, expected: list[str]
) -> None:
    assert await ev(eng, template, scope(ITEMS)) == expected


async def test_non_finite_numbers_come_back_as_floats(eng: V8ExpressionEngine) -> None:
    inf, nan = await ev(eng, "{{ 1 / 0 }}"), await ev(eng, "{{ 0 / 0 }}")
    assert inf == [math.inf] and math.isnan(nan[0])


async def test_input_variables(eng: V8ExpressionEngine) -> None:
    s = scope(ITEMS)
    assert await ev(eng, "{{ $input.item.json.name }}", s) == ["Ada", "Bob"]
    assert await ev(eng, "{{ $input.first().json.name }}", s) == ["Ada", "Ada"]
    assert await ev(eng, "{{ $input.last().json.name }}", s) == ["Bob", "Bob"]
    assert await ev(eng, "{{ $input.all().length }}", s) == [2, 2]
    assert await ev(eng, "{{ $items().map(i => i.json.age).join('+') }}", s) == ["36+7", "36+7"]


async def test_metadata_variables(eng: V8ExpressionEngine) -> None:
    s = scope(ITEMS, run_index=2, prev_node="Before", prev_output=1, prev_run=0, vars={"region": "eu"},
              parameters={"field": "x"})  # fmt: skip
    assert await one(eng, "{{ $runIndex }}", s) == 2
    assert await one(eng, "{{ $execution.id }}/{{ $execution.mode }}", s) == "exec-1/manual"
    assert (
        await one(eng, "{{ $workflow.name }}:{{ $workflow.id }}:{{ $workflow.active }}", s)
        == "My flow:wf-1:false"
    )
    assert await one(eng, "{{ $prevNode.name }}#{{ $prevNode.outputIndex }}", s) == "Before#1"
    assert await one(eng, "{{ $vars.region }}", s) == "eu"
    assert await one(eng, "{{ $parameter.field }}", s) == "x"
    assert await one(eng, "{{ $execution.resumeUrl }}", s) == "http://h/webhook-waiting/exec-1"


async def test_env_is_refused_unless_allowed(eng: V8ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="access to env vars denied"):
        await one(eng, "{{ $env.HOME }}")
    assert await one(eng, "{{ $env.TOKEN }}", scope(env={"TOKEN": "t0k"})) == "t0k"


def scope_with_nodes(items: list[dict[str, Any]]) -> Any:
    """Current node's items were derived from 'Source' (paired 1:1) which read 'Config' (one item)."""
    s = scope(items)
    source_items = [{"json": {"id": 10 + i}, "pairedItem": {"item": 0}} for i in range(len(items))]
    s.run_data = {
        "Config": [run_view([{"url": "https://x"}])],
        "Source": [run_view(source_items)],
        "Many": [run_view([{"v": 1}, {"v": 2}, {"v": 3}])],
    }
    s.paired = lambda node, i: source_items[i] if node == "Source" and i < len(source_items) else None
    return s


async def test_other_nodes(eng: V8ExpressionEngine) -> None:
    s = scope_with_nodes(ITEMS)
    assert await ev(eng, "{{ $('Source').item.json.id }}", s) == [10, 11]
    assert await ev(eng, "{{ $('Config').item.json.url }}", s) == ["https://x", "https://x"]  # its only item
    assert await ev(eng, "{{ $('Many').first().json.v }}-{{ $('Many').last().json.v }}", s) == ["1-3", "1-3"]
    assert await ev(eng, "{{ $('Many').all().length }}", s) == [3, 3]
    assert await ev(eng, "{{ $node['Many'].json.v }}", s) == [1, 2]  # same index
    assert await ev(eng, '{{ $node["Config"].json.url }}', s) == ["https://x", "https://x"]
    assert await ev(eng, "{{ $items('Many')[2].json.v }}", s) == [3, 3]
    assert await ev(eng, "{{ $('Many').isExecuted }}/{{ $('Nope').isExecuted }}", s) == ["true/false"] * 2


async def test_dynamic_node_names(eng: V8ExpressionEngine) -> None:
    s = scope_with_nodes([{"which": "Many"}])
    assert await ev(eng, "{{ $($json.which).first().json.v }}", s) == [1]


async def test_unexecuted_node_and_missing_pairing_are_errors(eng: V8ExpressionEngine) -> None:
    s = scope_with_nodes(ITEMS)
    with pytest.raises(ExpressionError, match="hasn't been executed"):
        await ev(eng, "{{ $('Nope').item.json.x }}", s)
    with pytest.raises(ExpressionError, match="paired") as info:
        await ev(eng, "{{ $('Many').item.json.v }}", s)
    assert info.value.item_index == 0


async def test_errors_name_the_item(eng: V8ExpressionEngine) -> None:
    with pytest.raises(ExpressionError) as info:
        await ev(eng, "{{ $json.nested.k }}", scope(ITEMS))
    assert info.value.item_index == 1
    assert "Cannot read properties of undefined" in info.value.message
    assert info.value.expression == "{{ $json.nested.k }}"


def test_syntax_errors_at_compile_time(engine: V8ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match="invalid expression: SyntaxError"):
        engine.compile("{{ $json.a + }}")
    with pytest.raises(ExpressionError, match="SyntaxError"):
        engine.compile("{{ $json.a ?? $json.b || 1 }}")


async def test_evaluates_selected_indexes_only(eng: V8ExpressionEngine) -> None:
    s = scope([{"v": i} for i in range(5)])
    assert await eng.evaluate(eng.compile("{{ $json.v * 10 }}"), s, [4, 1]) == [40, 10]
    assert await eng.evaluate(eng.compile("{{ $json.v * 10 }}"), s, []) == []


async def test_helpers(eng: V8ExpressionEngine) -> None:
    assert await one(eng, "{{ $if(1 > 2, 'yes', 'no') }}") == "no"
    assert (
        await one(eng, "{{ $ifEmpty('', 'default') }}/{{ $ifEmpty([], 'd') }}/{{ $ifEmpty('v', 'd') }}")
        == "default/d/v"
    )
    assert await one(eng, "{{ $min(3, 1, 2) + $max(3, 1, 2) }}") == 4
    data = {"people": [{"name": "a", "age": 30}, {"name": "b", "age": 20}]}
    assert await one(eng, "{{ $jmespath($json, 'people[?age > `25`].name') }}", scope([data])) == ["a"]


async def test_large_batches_are_chunked_and_complete(eng: V8ExpressionEngine) -> None:
    n = 5_000
    s = scope([{"x": i} for i in range(n)])
    out = await ev(eng, "{{ $json.x + 1 }}", s)
    assert out[0] == 1 and out[-1] == n and len(out) == n
