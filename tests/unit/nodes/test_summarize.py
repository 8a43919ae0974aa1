"""Summarize (n8n summarize v1 / v1.1)."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json, run_node

T = "n8n-nodes-base.summarize"
SALES = [
    {"rep": "ann", "region": "n", "amount": 10, "id": "a"},
    {"rep": "bob", "region": "s", "amount": 5, "id": "b"},
    {"rep": "ann", "region": "s", "amount": 2.5, "id": "a"},
    {"rep": "bob", "region": "s", "amount": "n/a", "id": "c"},
    {"rep": "cy", "region": "n", "id": None},
]


def summary(*values: dict[str, Any], split: str = "", **options: Any) -> dict[str, Any]:
    return {"fieldsToSummarize": {"values": list(values)}, "fieldsToSplitBy": split, "options": options}


@pytest.mark.parametrize("version", [1, 1.1])
async def test_every_aggregation_over_all_items(version: float) -> None:
    params = summary(
        {"aggregation": "sum", "field": "amount"},
        {"aggregation": "average", "field": "amount"},
        {"aggregation": "min", "field": "amount"},
        {"aggregation": "max", "field": "amount"},
        {"aggregation": "count", "field": "id"},
        {"aggregation": "countUnique", "field": "id"},
        {"aggregation": "append", "field": "rep"},
        {"aggregation": "concatenate", "field": "region", "separateBy": "other", "customSeparator": "|"},
    )
    out = await run_node(T, params, SALES, type_version=version)
    assert output_json(out) == [
        {
            "sum_amount": 17.5,
            "average_amount": 17.5 / 3,
            "min_amount": 2.5,
            "max_amount": 10,
            "count_id": 4,
            "unique_count_id": 3,
            "appended_rep": ["ann", "bob", "ann", "bob", "cy"],
            "concatenated_region": "n|s|s|s|n",
        }
    ]
    assert len(out[0][0]["pairedItem"]) == len(SALES)


async def test_split_by_groups_in_first_seen_order() -> None:
    params = summary(
        {"aggregation": "sum", "field": "amount"}, {"aggregation": "count", "field": "id"}, split="rep"
    )
    out = await run_node(T, params, SALES)
    assert output_json(out) == [
        {"rep": "ann", "sum_amount": 12.5, "count_id": 2},
        {"rep": "bob", "sum_amount": 5, "count_id": 2},
        {"rep": "cy", "sum_amount": 0, "count_id": 0},
    ]
    assert out[0][1]["pairedItem"] == [{"item": 1}, {"item": 3}]


async def test_split_by_two_fields_in_a_single_item() -> None:
    params = summary({"aggregation": "count", "field": "rep"}, split="region, rep", outputFormat="singleItem")
    out = output_json(await run_node(T, params, SALES))
    assert out == [
        {
            "n": {
                "ann": {"region": "n", "rep": "ann", "count_rep": 1},
                "cy": {"region": "n", "rep": "cy", "count_rep": 1},
            },
            "s": {
                "bob": {"region": "s", "rep": "bob", "count_rep": 2},
                "ann": {"region": "s", "rep": "ann", "count_rep": 1},
            },
        }
    ]


async def test_append_and_concatenate_include_empty() -> None:
    items = [{"v": "a"}, {"v": ""}, {"v": None}, {"w": 1}]
    params = summary(
        {"aggregation": "append", "field": "v", "includeEmpty": True},
        {"aggregation": "concatenate", "field": "v", "separateBy": ", "},
    )
    assert output_json(await run_node(T, params, items)) == [
        {"appended_v": ["a", "", None, None], "concatenated_v": "a"}
    ]


async def test_skip_empty_split_fields() -> None:
    items = [{"k": "x", "v": 1}, {"k": "", "v": 2}, {"v": 3}]
    params = summary({"aggregation": "sum", "field": "v"}, split="k", skipEmptySplitFields=True)
    assert output_json(await run_node(T, params, items)) == [{"k": "x", "sum_v": 1}]
    params = summary({"aggregation": "sum", "field": "v"}, split="k")
    assert output_json(await run_node(T, params, items)) == [
        {"k": "x", "sum_v": 1},
        {"k": "", "sum_v": 2},
        {"k": None, "sum_v": 3},
    ]


async def test_field_missing_everywhere_fails_unless_told_to_continue() -> None:
    params = summary({"aggregation": "sum", "field": "nope"})
    with pytest.raises(NodeRunFailed, match="'nope' does not exist"):
        await run_node(T, params, SALES)
    params = summary({"aggregation": "sum", "field": "nope"}, continueIfFieldNotFound=True)
    assert output_json(await run_node(T, params, SALES)) == [{"sum_nope": 0}]


async def test_relayflow_type_takes_our_shape() -> None:
    params = {"fields": [{"aggregation": "max", "field": "n"}], "split_by": ["g"]}
    out = await run_node("relayflow.summarize", params, [{"g": 1, "n": 1}, {"g": 1, "n": 4}])
    assert output_json(out) == [{"g": 1, "max_n": 4}]
