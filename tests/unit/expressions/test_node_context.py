"""n8n's node context in expressions: ``$node["X"].context``, ``$('X').context``, ``$input.context``.

The engine keeps each node's state in ``ExpressionScope.node_state`` (Split In Batches v1 stores
``noItemsLeft`` and ``currentRunIndex`` there); a V8 call gets the state of the nodes it reads
``.context`` of, and nothing otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.engine.expression import ExpressionScope
from relayflow.expressions import V8ExpressionEngine, payload
from relayflow.expressions.lexer import tokenize
from relayflow.expressions.template import Needs, analyse
from tests.unit.expressions.conftest import ev, one, run_view, scope

STATE = {"noItemsLeft": False, "currentRunIndex": 2, "items": [{"json": {"a": 1}}]}


@pytest.fixture(params=["engine", "v8_only"])
def eng(request: pytest.FixtureRequest) -> V8ExpressionEngine:
    """Every evaluation test runs twice: with the fast path, and on V8 alone."""
    e: V8ExpressionEngine = request.getfixturevalue(request.param)
    return e


def loop_scope(
    state: dict[str, Any] | None = None, items: list[dict[str, Any]] | None = None
) -> ExpressionScope:
    s = scope(items if items is not None else [{"x": 1}, {"x": 2}])
    s.run_data = {
        "SplitInBatches": [run_view([{"x": 1}, {"x": 2}])],
        "Set": [run_view([{"x": 1}, {"x": 2}])],
        "Idle": [run_view([{"y": 1}])],
    }
    s.node_state = {"SplitInBatches": dict(STATE if state is None else state)}
    s.prev_node = "SplitInBatches"
    return s


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ $node["SplitInBatches"].context["noItemsLeft"] }}', False),
        ('{{ $node["SplitInBatches"].context["currentRunIndex"]; }}', 2),
        ("{{ $node.SplitInBatches.context.noItemsLeft }}", False),
        ('{{ $node["SplitInBatches"]["context"].currentRunIndex }}', 2),
        ("{{ $('SplitInBatches').context.noItemsLeft }}", False),
        ("{{ $('SplitInBatches').context.currentRunIndex + 1 }}", 3),
        ("{{ $input.context.noItemsLeft }}", False),
        ("{{ $input.context.currentRunIndex }}", 2),
        ('{{ (() => { const n = $node["SplitInBatches"]; return n.context.currentRunIndex; })() }}', 2),
        ("{{ $node[$json.which].context.currentRunIndex }}", 2),
        ("{{ $('SplitInBatches').context.items.length }}", 1),
        # a node that keeps no state has an empty context
        ('{{ $node["Idle"].context }}', {}),
        ("{{ $('Idle').context }}", {}),
        ("{{ Object.keys($('Nope').context).length }}", 0),
    ],
)
async def test_context_is_the_node_state(eng: V8ExpressionEngine, template: str, expected: Any) -> None:
    s = loop_scope(items=[{"which": "SplitInBatches"}])
    assert await one(eng, template, s) == expected


async def test_no_items_left_once_the_last_batch_is_out(eng: V8ExpressionEngine) -> None:
    s = loop_scope({"noItemsLeft": True, "currentRunIndex": 3})
    assert await ev(eng, '{{ $node["SplitInBatches"].context["noItemsLeft"] }}', s) == [True, True]
    assert await ev(eng, "run {{ $('SplitInBatches').context.currentRunIndex }}", s) == ["run 3", "run 3"]


async def test_context_and_items_together(eng: V8ExpressionEngine) -> None:
    s = loop_scope()
    template = '{{ $node["SplitInBatches"].json.x }}:{{ $node["SplitInBatches"].context.currentRunIndex }}'
    assert await ev(eng, template, s) == ["1:2", "2:2"]
    template = "{{ $('SplitInBatches').all().length }}/{{ $('SplitInBatches').context.noItemsLeft }}"
    assert await ev(eng, template, s) == ["2/false", "2/false"]


async def test_context_is_a_read_only_copy(eng: V8ExpressionEngine) -> None:
    s = loop_scope()
    template = (
        "{{ (() => { const c = $('SplitInBatches').context; try { c.noItemsLeft = 'x'; } catch (e) {}"
        " return c.noItemsLeft; })() }}"
    )
    assert await ev(eng, template, s) == [False, False]
    assert s.node_state["SplitInBatches"]["noItemsLeft"] is False


async def test_unexecuted_legacy_node_still_fails(eng: V8ExpressionEngine) -> None:
    from relayflow.errors import ExpressionError

    with pytest.raises(ExpressionError, match="hasn't been executed"):
        await one(eng, '{{ $node["Nope"].context.noItemsLeft }}', loop_scope())


# ---- what is shipped to V8 -----------------------------------------------------------------------
def needs(code: str) -> Needs:
    return analyse(tokenize(code))


def test_analysis_notes_context_reads() -> None:
    n = needs('$node["SplitInBatches"].context["noItemsLeft"]')
    assert n.context == {"SplitInBatches"}
    assert n.outputs == set() and n.legacy == set()  # no items needed
    assert needs("$('A').context.x").context == {"A"}
    assert needs('$node["A"]["context"].x').context == {"A"}
    assert needs("$input.context.noItemsLeft").input_context
    assert needs("$('A').first().json.x + $('B').context.y").context == {"B"}


def test_expressions_without_context_ship_no_state() -> None:
    s = loop_scope()
    for code in ('$node["SplitInBatches"].json.x', "$('SplitInBatches').all()", "$input.all()", "$json.x"):
        n = needs(code)
        assert not n.context and not n.input_context and not n.any_context
        shipped = payload.build(s, n, [0, 1])["nodes"]
        assert all("context" not in entry for entry in shipped.values()), code


def test_only_referenced_states_are_shipped() -> None:
    s = loop_scope()
    s.node_state["Other"] = {"big": list(range(1000))}
    shipped = payload.build(s, needs("$('SplitInBatches').context.noItemsLeft"), [0])["nodes"]
    assert shipped == {"SplitInBatches": {"executed": True, "context": STATE}}
    shipped = payload.build(s, needs("$input.context.noItemsLeft"), [0])["nodes"]
    assert shipped == {"SplitInBatches": {"executed": True, "context": STATE}}
