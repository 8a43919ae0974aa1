"""Item Lists (n8n itemLists v1-3.1): each operation delegates to its standalone node."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.errors import WorkflowInvalid
from relayflow.nodes import item_lists
from relayflow.testing import output_json, run_node

T = "n8n-nodes-base.itemLists"
ROWS = [
    {"k": "b", "n": 2, "tags": ["x"]},
    {"k": "a", "n": 1, "tags": ["y"]},
    {"k": "b", "n": 2, "tags": ["x"]},
]


@pytest.mark.parametrize(
    ("version", "params", "expected"),
    [
        (
            1,
            {
                "fieldToSplitOut": "tags",
                "include": "selectedOtherFields",
                "fieldsToInclude": {"fields": [{"fieldName": "k"}]},
            },
            [{"k": "b", "tags": "x"}, {"k": "a", "tags": "y"}, {"k": "b", "tags": "x"}],
        ),
        (
            3.1,
            {"fieldToSplitOut": "tags", "include": "selectedOtherFields", "fieldsToInclude": "n"},
            [{"n": 2, "tags": "x"}, {"n": 1, "tags": "y"}, {"n": 2, "tags": "x"}],
        ),
    ],
)
async def test_split_out_items(version: float, params: dict[str, Any], expected: list[Any]) -> None:
    out = await run_node(T, {"operation": "splitOutItems", **params}, ROWS, type_version=version)
    assert output_json(out) == expected


@pytest.mark.parametrize(("version", "operation"), [(2, "aggregateItems"), (3, "concatenateItems")])
async def test_aggregate(version: float, operation: str) -> None:
    params = {"operation": operation, "fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "n"}]}}
    assert output_json(await run_node(T, params, ROWS, type_version=version)) == [{"n": [2, 1, 2]}]


@pytest.mark.parametrize(
    ("version", "fields"),
    [(1, {"fields": [{"fieldName": "k"}]}), (2.2, "k")],
)
async def test_remove_duplicates_old_and_new_field_lists(version: float, fields: Any) -> None:
    params = {"operation": "removeDuplicates", "compare": "selectedFields", "fieldsToCompare": fields}
    assert [o["k"] for o in output_json(await run_node(T, params, ROWS, type_version=version))] == ["b", "a"]


async def test_sort_limit_and_summarize() -> None:
    sort = {"operation": "sort", "sortFieldsUi": {"sortField": [{"fieldName": "n"}]}}
    assert [o["n"] for o in output_json(await run_node(T, sort, ROWS, type_version=3))] == [1, 2, 2]
    limit = {"operation": "limit", "maxItems": 1, "keep": "lastItems"}
    assert output_json(await run_node(T, limit, ROWS, type_version=3)) == [ROWS[2]]
    summary = {
        "operation": "summarize",
        "fieldsToSummarize": {"values": [{"aggregation": "sum", "field": "n"}]},
        "fieldsToSplitBy": "k",
    }
    out = output_json(await run_node(T, summary, ROWS, type_version=3.1))
    assert out == [{"k": "b", "sum_n": 4}, {"k": "a", "sum_n": 1}]


async def test_default_operation_is_split_out() -> None:
    out = await run_node(T, {"fieldToSplitOut": "tags"}, ROWS[:1], type_version=3)
    assert output_json(out) == [{"tags": "x"}]


async def test_unknown_operation_fails_validation() -> None:
    with pytest.raises(WorkflowInvalid, match=r"parameters\.operation"):
        await run_node(T, {"operation": "explode"}, ROWS, type_version=3)


def test_operation_needs_its_parameters() -> None:
    with pytest.raises(ValueError, match="'sort'"):
        item_lists.Params(operation="sort")


async def test_relayflow_type_takes_nested_shape() -> None:
    params = {"operation": "limit", "limit": {"max_items": 2}}
    assert output_json(await run_node("relayflow.itemLists", params, ROWS)) == ROWS[:2]
