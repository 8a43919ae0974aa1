"""Aggregate (n8n aggregate v1)."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.nodes import aggregate
from relayflow.testing import NodeRunFailed, output_json, run_node

T = "n8n-nodes-base.aggregate"
ITEMS = [
    {"name": "a", "tags": ["x"], "meta": {"n": 1}},
    {"name": "b", "tags": ["y", "z"], "meta": {"n": 2}},
    {"name": None, "meta": {}},
]


def fields(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"fieldsToAggregate": {"fieldToAggregate": list(entries)}, "options": {}}


async def test_individual_fields_skip_missing_and_null() -> None:
    out = await run_node(T, fields({"fieldToAggregate": "name"}, {"fieldToAggregate": "meta.n"}), ITEMS)
    assert output_json(out) == [{"name": ["a", "b"], "meta.n": [1, 2]}]
    assert out[0][0]["pairedItem"] == [{"item": 0}, {"item": 1}, {"item": 2}]


async def test_keep_missing_rename_and_merge_lists() -> None:
    params = fields(
        {"fieldToAggregate": "name", "renameField": True, "outputFieldName": "names"},
        {"fieldToAggregate": "tags"},
    )
    params["options"] = {"keepMissing": True, "mergeLists": True}
    out = await run_node(T, params, ITEMS)
    assert output_json(out) == [{"names": ["a", "b", None], "tags": ["x", "y", "z", None]}]


async def test_lists_are_nested_without_merge() -> None:
    out = await run_node(T, fields({"fieldToAggregate": "tags"}), ITEMS)
    assert output_json(out) == [{"tags": [["x"], ["y", "z"]]}]


async def test_two_fields_to_the_same_output_fail() -> None:
    params = fields(
        {"fieldToAggregate": "a"}, {"fieldToAggregate": "b", "renameField": True, "outputFieldName": "a"}
    )
    with pytest.raises(NodeRunFailed, match="used twice"):
        await run_node(T, params, [{"a": 1, "b": 2}])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, [{"x": 1, "y": {"z": 2}}, {"x": 3, "y": {"z": 4}}]),
        ({"include": "specifiedFields", "fieldsToInclude": "y.z"}, [{"y": {"z": 2}}, {"y": {"z": 4}}]),
        ({"include": "allFieldsExcept", "fieldsToExclude": "x"}, [{"y": {"z": 2}}, {"y": {"z": 4}}]),
    ],
)
async def test_all_item_data(extra: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    params = {"aggregate": "aggregateAllItemData", "destinationFieldName": "rows", "options": {}, **extra}
    out = await run_node(T, params, [{"x": 1, "y": {"z": 2}}, {"x": 3, "y": {"z": 4}}])
    assert output_json(out) == [{"rows": expected}]


async def test_binaries_are_collected_with_unique_names() -> None:
    items = [
        {"json": {}, "binary": {"data": {"data": "YQ==", "fileName": "a"}}},
        {"json": {}, "binary": {"data": {"data": "Yg==", "fileName": "b"}}},
    ]
    params = {"aggregate": "aggregateAllItemData", "options": {"includeBinaries": True}}
    out = await run_node(T, params, items)
    assert out[0][0]["binary"] == {"data": items[0]["binary"]["data"], "data_1": items[1]["binary"]["data"]}


def test_empty_input_gives_no_item() -> None:
    assert aggregate.aggregate([], aggregate.Params(fields=[aggregate.FieldToAggregate(field="a")])) == []


async def test_relayflow_type_takes_our_shape() -> None:
    params = {"fields": [{"field": "v", "output_field": "vs"}]}
    out = await run_node("relayflow.aggregate", params, [{"v": 1}, {"v": 2}])
    assert output_json(out) == [{"vs": [1, 2]}]


def test_field_found_nowhere_is_a_warning_not_an_error() -> None:
    heard: list[str] = []
    p = aggregate.Params(fields=[aggregate.FieldToAggregate(field="nope")])
    out = aggregate.aggregate([{"json": {"a": 1}}], p, warn=heard.append)
    assert out[0]["json"] == {"nope": []}
    assert heard == ["the field 'nope' wasn't found in any input item"]
