"""IF: per-item routing to the true/false outputs, every n8n version's parameter shape."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json
from tests.unit.nodes.logic_helpers import HAVE_EXPRESSIONS, golden_names, run, run_golden

ITEMS = [{"name": "a", "age": 30}, {"name": "b", "age": 12}, {"name": "c", "age": 18}]


def filter_params(left: Any, op: str, right: Any, type_: str = "number", **options: Any) -> dict[str, Any]:
    return {
        "conditions": {
            "options": {
                "caseSensitive": True,
                "leftValue": "",
                "typeValidation": "strict",
                "version": 2,
                **options,
            },
            "conditions": [
                {
                    "id": "c1",
                    "leftValue": left,
                    "rightValue": right,
                    "operator": {"type": type_, "operation": op},
                }
            ],
            "combinator": "and",
        },
        "options": {},
    }


@pytest.mark.parametrize("version", [2, 2.1, 2.2, 2.3])
async def test_v2_static_condition_routes_every_item_one_way(version: float) -> None:
    out = await run("n8n-nodes-base.if", filter_params(5, "gt", 3), ITEMS, type_version=version, outputs=2)
    assert output_json(out, 0) == ITEMS
    assert out[1] == []
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 1}, {"item": 2}]


async def test_v2_routes_per_item_with_fake_expressions() -> None:
    out = await run(
        "n8n-nodes-base.if",
        filter_params("={{ $json.age }}", "gte", 18),
        ITEMS,
        type_version=2.2,
        outputs=2,
        fake_expressions=True,
    )
    assert output_json(out, 0) == [ITEMS[0], ITEMS[2]]
    assert output_json(out, 1) == [ITEMS[1]]
    assert [it["pairedItem"] for it in out[1]] == [{"item": 1}]


@pytest.mark.skipif(not HAVE_EXPRESSIONS, reason="the expression engine has not landed yet")
async def test_v2_routes_per_item_with_real_expressions() -> None:
    params = filter_params("={{ $json.name.toUpperCase() }}", "equals", "B", type_="string")
    out = await run("n8n-nodes-base.if", params, ITEMS, type_version=2.2, outputs=2)
    assert output_json(out, 0) == [ITEMS[1]]


async def test_v1_legacy_conditions() -> None:
    params = {
        "conditions": {
            "string": [{"value1": "n8n.io", "operation": "contains", "value2": "io"}],
            "number": [{"value1": 6, "operation": "larger", "value2": 5}],
        }
    }
    out = await run("n8n-nodes-base.if", params, [{"x": 1}], type_version=1, outputs=2)
    assert output_json(out, 0) == [{"x": 1}]
    params["combineOperation"] = "any"
    params["conditions"]["number"][0]["value2"] = 50  # type: ignore[index]
    out = await run("n8n-nodes-base.if", params, [{"x": 1}], type_version=1, outputs=2)
    assert output_json(out, 0) == [{"x": 1}]
    params["combineOperation"] = "all"
    out = await run("n8n-nodes-base.if", params, [{"x": 1}], type_version=1, outputs=2)
    assert output_json(out, 1) == [{"x": 1}]


async def test_legacy_shape_in_a_v2_export_is_still_understood() -> None:
    params = {"conditions": {"number": [{"value1": 1, "operation": "larger", "value2": 0}]}}
    out = await run("n8n-nodes-base.if", params, [{}], type_version=2, outputs=2)
    assert len(out[0]) == 1


async def test_strict_type_mismatch_stops_the_workflow() -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run("n8n-nodes-base.if", filter_params("5", "gt", 3), [{}], type_version=2.2, outputs=2)
    assert "Wrong type: '5' is a string but was expecting a number" in str(info.value)
    assert info.value.error["node"] == "Node"
    assert info.value.error["itemIndex"] == 0


async def test_loose_type_validation_parameter_converts() -> None:
    params = {**filter_params("5", "gt", 3), "looseTypeValidation": True}
    out = await run("n8n-nodes-base.if", params, [{}], type_version=2.2, outputs=2)
    assert len(out[0]) == 1


async def test_ignore_case_option() -> None:
    params = {**filter_params("ABC", "equals", "abc", type_="string"), "options": {"ignoreCase": True}}
    out = await run("n8n-nodes-base.if", params, [{}], type_version=2, outputs=2)
    assert len(out[0]) == 1


async def test_expressions_outside_the_values_are_evaluated_per_item() -> None:
    params = {
        **filter_params("ABC", "equals", "abc", type_="string"),
        "options": {"ignoreCase": "={{ $json.ci }}"},
    }
    items = [{"ci": True}, {"ci": False}]
    out = await run("n8n-nodes-base.if", params, items, type_version=2.2, outputs=2, fake_expressions=True)
    assert output_json(out, 0) == [items[0]]
    assert output_json(out, 1) == [items[1]]


async def test_continue_regular_output_sends_failing_items_to_false() -> None:
    out = await run(
        "n8n-nodes-base.if",
        filter_params("5", "gt", 3),
        [{"k": 1}],
        type_version=2.2,
        outputs=2,
        node_fields={"onError": "continueRegularOutput"},
    )
    assert out[0] == []
    assert output_json(out, 1) == [{"k": 1}]


async def test_continue_error_output_sends_failing_items_to_the_error_output() -> None:
    out = await run(
        "n8n-nodes-base.if",
        filter_params("5", "gt", 3),
        [{"k": 1}],
        type_version=2.2,
        outputs=3,
        node_fields={"onError": "continueErrorOutput"},
    )
    assert out[0] == [] and out[1] == []
    assert out[2][0]["json"]["k"] == 1
    assert "Wrong type" in out[2][0]["json"]["error"]


async def test_native_type() -> None:
    items = [{"nested": {"v": 1}}]
    params = {"conditions": filter_params(1, "equals", 1)["conditions"], "ignore_case": True}
    out = await run("relayflow.if", params, items, outputs=2)
    assert output_json(out, 0) == items
    assert out[0][0]["pairedItem"] == {"item": 0}


async def test_unknown_operator_fails_validation() -> None:
    with pytest.raises(Exception, match=r"unknown condition operator number\.bigger"):
        await run("n8n-nodes-base.if", filter_params(1, "bigger", 0), [{}], type_version=2.2, outputs=2)


@pytest.mark.parametrize("name", golden_names("if"))
async def test_golden(name: str) -> None:
    got, expected = await run_golden(name)
    assert got == expected
