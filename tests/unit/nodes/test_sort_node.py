"""Sort (n8n sort v1)."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.nodes import sort_node
from relayflow.testing import NodeRunFailed, output_json, run_node

T = "n8n-nodes-base.sort"


def by(*fields: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "simple",
        "sortFieldsUi": {"sortField": [{"fieldName": f, "order": o} for f, o in fields]},
    }


async def test_numbers_ascending_and_paired_items() -> None:
    out = await run_node(T, by(("n", "ascending")), [{"n": 3}, {"n": 1}, {"n": 2}])
    assert output_json(out) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 1}, {"item": 2}, {"item": 0}]


async def test_several_fields_mixed_orders_are_stable() -> None:
    items = [
        {"g": "b", "n": 1, "i": 0},
        {"g": "a", "n": 1, "i": 1},
        {"g": "b", "n": 2, "i": 2},
        {"g": "a", "n": 1, "i": 3},
    ]
    out = output_json(await run_node(T, by(("g", "ascending"), ("n", "descending")), items))
    assert [o["i"] for o in out] == [1, 3, 2, 0]


async def test_nested_path_and_disabled_dot_notation() -> None:
    items = [{"a": {"b": 2}, "a.b": 1}, {"a": {"b": 1}, "a.b": 2}]
    nested = output_json(await run_node(T, by(("a.b", "ascending")), items[::-1]))
    # a key containing the dot wins over the nested path, as in lodash
    assert [o["a.b"] for o in nested] == [1, 2]
    plain = await run_node(T, {**by(("a.b", "descending")), "options": {"disableDotNotation": True}}, items)
    assert [o["a.b"] for o in output_json(plain)] == [2, 1]


def test_mixed_types_missing_and_null_sort_last() -> None:
    items = [
        {"json": j} for j in ({"v": "b"}, {}, {"v": None}, {"v": 2}, {"v": "a"}, {"v": 1.5}, {"v": True})
    ]
    p = sort_node.Params(fields=[sort_node.SortField(field="v")])
    assert [it["json"].get("v", "-") for it in sort_node.sort_items(items, p)] == [
        1.5,
        2,
        "a",
        "b",
        True,
        None,
        "-",
    ]


async def test_random_keeps_every_item() -> None:
    items = [{"n": i} for i in range(50)]
    out = output_json(await run_node(T, {"type": "random"}, items))
    assert sorted(o["n"] for o in out) == list(range(50))


async def test_code_sorting_is_refused_clearly() -> None:
    with pytest.raises(NodeRunFailed, match="Code node"):
        await run_node(T, {"type": "code", "code": "return a.n - b.n"}, [{"n": 1}])


async def test_no_fields_is_an_error() -> None:
    with pytest.raises(NodeRunFailed, match="no fields"):
        await run_node(T, {"type": "simple", "sortFieldsUi": {}}, [{"n": 1}])


async def test_relayflow_type_takes_our_shape() -> None:
    out = await run_node(
        "relayflow.sort", {"fields": [{"field": "n", "order": "descending"}]}, [{"n": 1}, {"n": 2}]
    )
    assert output_json(out) == [{"n": 2}, {"n": 1}]
