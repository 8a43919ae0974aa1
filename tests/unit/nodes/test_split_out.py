"""Split Out (n8n splitOut v1 / v1.1)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relayflow.testing import output_json, run_node

T = "n8n-nodes-base.splitOut"


async def split(
    params: dict[str, Any], items: list[dict[str, Any]], version: float = 1
) -> list[dict[str, Any]]:
    out = await run_node(T, {"options": {}, **params}, items, type_version=version)
    return output_json(out)


@pytest.mark.parametrize("version", [1, 1.1])
async def test_objects_become_items(version: float) -> None:
    items = [{"id": 1, "customers": [{"name": "a"}, {"name": "b"}]}]
    assert await split({"fieldToSplitOut": "customers"}, items, version) == [{"name": "a"}, {"name": "b"}]


async def test_scalars_keep_the_field_name() -> None:
    assert await split({"fieldToSplitOut": "tags"}, [{"tags": ["x", "y"]}]) == [{"tags": "x"}, {"tags": "y"}]


async def test_all_other_fields_and_destination() -> None:
    items = [{"id": 1, "tags": ["x", "y"], "keep": True}]
    out = await split(
        {"fieldToSplitOut": "tags", "include": "allOtherFields", "options": {"destinationFieldName": "tag"}},
        items,
    )
    assert out == [{"id": 1, "keep": True, "tag": "x"}, {"id": 1, "keep": True, "tag": "y"}]


async def test_selected_other_fields() -> None:
    items = [{"id": 1, "meta": {"a": 1, "b": 2}, "tags": ["x"], "drop": 0}]
    out = await split(
        {"fieldToSplitOut": "tags", "include": "selectedOtherFields", "fieldsToInclude": "id, meta.a"}, items
    )
    assert out == [{"id": 1, "meta": {"a": 1}, "tags": "x"}]


async def test_nested_path_with_index() -> None:
    items = [{"items": [{"markers": [1, 2, 3]}]}]
    out = await split({"fieldToSplitOut": "items[0].markers"}, items)
    assert out == [{"items[0].markers": v} for v in (1, 2, 3)]


async def test_dot_notation_disabled_reads_literal_key() -> None:
    items = [{"a.b": [1, 2], "a": {"b": [9]}}]
    out = await split({"fieldToSplitOut": "a.b", "options": {"disableDotNotation": True}}, items)
    assert out == [{"a.b": 1}, {"a.b": 2}]


async def test_several_fields_split_in_parallel() -> None:
    items = [{"a": [1, 2, 3], "b": ["x", "y"]}]
    out = await split({"fieldToSplitOut": "a, b"}, items)
    assert out == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3}]


async def test_destinations_must_match_fields() -> None:
    from relayflow.testing import NodeRunFailed

    with pytest.raises(NodeRunFailed, match="destination"):
        await split(
            {"fieldToSplitOut": "a, b", "options": {"destinationFieldName": "x"}}, [{"a": [1], "b": [2]}]
        )


async def test_object_value_splits_into_its_values_and_scalar_into_one() -> None:
    assert await split({"fieldToSplitOut": "o"}, [{"o": {"k1": 1, "k2": 2}}, {"o": 5}]) == [
        {"o": 1},
        {"o": 2},
        {"o": 5},
    ]


async def test_missing_field_yields_nothing() -> None:
    assert await split({"fieldToSplitOut": "nope"}, [{"a": 1}]) == []


async def test_paired_items_binary_and_inputs_untouched() -> None:
    items: list[dict[str, Any]] = [
        {"json": {"l": [1, 2]}, "binary": {"data": {"data": "aGk=", "mimeType": "text/plain"}}},
        {"json": {"l": [3]}},
    ]
    before = copy.deepcopy(items)
    out = await run_node(T, {"fieldToSplitOut": "l", "options": {"includeBinary": True}}, items)
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 0}, {"item": 1}]
    assert out[0][0]["binary"] == items[0]["binary"]
    assert "binary" not in out[0][2]
    assert items == before


async def test_relayflow_type_takes_our_shape() -> None:
    out = await run_node(
        "relayflow.splitOut", {"field_to_split_out": "l", "destination_field_name": "v"}, [{"l": [1]}]
    )
    assert output_json(out) == [{"v": 1}]
