"""Switch: rules (v3), expression mode, legacy rules (v1/v2), fallback, dynamic outputs."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.nodes.switch_node import SwitchParams, output_names
from relayflow.testing import NodeRunFailed, output_json
from tests.unit.nodes.logic_helpers import golden_names, run, run_golden

ITEMS = [{"cmd": "get"}, {"cmd": "search"}, {"cmd": "other"}, {"cmd": "GET"}]


def rule(value: str, key: str | None = None, op: str = "equals") -> dict[str, Any]:
    r: dict[str, Any] = {
        "conditions": {
            "options": {"caseSensitive": True, "typeValidation": "strict"},
            "combinator": "and",
            "conditions": [
                {
                    "leftValue": "={{ $json.cmd }}",
                    "rightValue": value,
                    "operator": {"type": "string", "operation": op},
                }
            ],
        }
    }
    if key is not None:
        r.update(renameOutput=True, outputKey=key)
    return r


def v3(rules: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {"rules": {"values": rules}, "options": options}


async def test_v3_rules_route_to_the_first_matching_output() -> None:
    out = await run(
        "n8n-nodes-base.switch",
        v3([rule("get"), rule("search"), rule("get")]),
        ITEMS,
        type_version=3.2,
        outputs=3,
        fake_expressions=True,
    )
    assert output_json(out, 0) == [ITEMS[0]]
    assert output_json(out, 1) == [ITEMS[1]]
    assert out[2] == []
    assert out[1][0]["pairedItem"] == {"item": 1}


async def test_all_matching_outputs_and_ignore_case() -> None:
    params = v3(
        [rule("get"), rule("e", op="contains"), rule("search")], allMatchingOutputs=True, ignoreCase=True
    )
    out = await run("n8n-nodes-base.switch", params, ITEMS, type_version=3, outputs=3, fake_expressions=True)
    assert output_json(out, 0) == [ITEMS[0], ITEMS[3]]
    assert output_json(out, 1) == [ITEMS[0], ITEMS[1], ITEMS[2], ITEMS[3]]
    assert output_json(out, 2) == [ITEMS[1]]


@pytest.mark.parametrize(
    ("fallback", "expected_outputs"),
    [
        ("extra", [[ITEMS[0]], [ITEMS[2], ITEMS[3]]]),
        ("none", [[ITEMS[0]]]),
        (0, [[ITEMS[0], ITEMS[2], ITEMS[3]]]),
    ],
)
async def test_fallback_output(fallback: Any, expected_outputs: list[list[dict[str, Any]]]) -> None:
    items = [ITEMS[0], ITEMS[2], ITEMS[3]]
    out = await run(
        "n8n-nodes-base.switch",
        v3([rule("get", "Get")], fallbackOutput=fallback),
        items,
        type_version=3.1,
        outputs=2,
        fake_expressions=True,
    )
    assert [output_json(out, k) for k in range(len(expected_outputs))] == expected_outputs


def test_outputs_are_named_from_the_rules() -> None:
    params = SwitchParams.model_validate(
        {"rules": [{"output_name": "Get"}, {}], "fallback_output": "extra", "fallback_name": "Else"}
    )
    assert output_names(params) == ("Get", "1", "Else")
    assert output_names(SwitchParams(mode="expression", number_outputs=2)) == ("0", "1")
    assert output_names(None) == ("0", "1", "2", "3")


async def test_expression_mode_sends_items_to_the_computed_output() -> None:
    items = [{"n": 1}, {"n": 0}, {"n": 1}]
    params = {"mode": "expression", "numberOutputs": 2, "output": "={{ $json.n }}"}
    out = await run(
        "n8n-nodes-base.switch", params, items, type_version=3.2, outputs=2, fake_expressions=True
    )
    assert output_json(out, 0) == [{"n": 0}]
    assert output_json(out, 1) == [{"n": 1}, {"n": 1}]


async def test_expression_mode_rejects_an_output_out_of_range() -> None:
    params = {"mode": "expression", "numberOutputs": 2, "output": 5}
    with pytest.raises(NodeRunFailed, match=r"The output 5 is not allowed\. It has to be between 0 and 1"):
        await run("n8n-nodes-base.switch", params, [{}], type_version=3, outputs=2)


async def test_v1_legacy_rules() -> None:
    params = {
        "dataType": "string",
        "value1": "={{ $json.status }}",
        "rules": {
            "rules": [
                {"value2": "same"},
                {"value2": "different", "output": 1},
                {"value2": "new", "output": 2},
            ]
        },
    }
    items = [{"status": "new"}, {"status": "same"}, {"status": "gone"}, {"status": "different"}]
    out = await run("n8n-nodes-base.switch", params, items, type_version=1, outputs=4, fake_expressions=True)
    assert [output_json(out, k) for k in range(4)] == [[items[1]], [items[3]], [items[0]], []]


async def test_v2_legacy_number_rules_with_fallback() -> None:
    params = {
        "dataType": "number",
        "value1": "={{ $json.n }}",
        "fallbackOutput": 3,
        "rules": {
            "rules": [
                {"operation": "smaller", "value2": 10},
                {"operation": "largerEqual", "value2": 100, "output": 1},
            ]
        },
    }
    items = [{"n": 5}, {"n": 500}, {"n": 50}]
    out = await run("n8n-nodes-base.switch", params, items, type_version=2, outputs=4, fake_expressions=True)
    assert [output_json(out, k) for k in range(4)] == [[items[0]], [items[1]], [], [items[2]]]


async def test_legacy_unknown_operation_is_rejected() -> None:
    params = {"dataType": "number", "value1": 1, "rules": {"rules": [{"operation": "bigger", "value2": 0}]}}
    with pytest.raises(Exception, match="unknown number operation 'bigger'"):
        await run("n8n-nodes-base.switch", params, [{}], type_version=1, outputs=4)


async def test_strict_type_error_under_continue_regular_output_goes_to_output_0() -> None:
    params = v3(
        [
            {
                "conditions": {
                    "conditions": [
                        {"leftValue": "x", "rightValue": 1, "operator": {"type": "number", "operation": "gt"}}
                    ]
                }
            }
        ]
    )
    out = await run(
        "n8n-nodes-base.switch",
        params,
        [{"k": 1}],
        type_version=3.2,
        outputs=1,
        node_fields={"onError": "continueRegularOutput"},
    )
    assert output_json(out, 0) == [{"k": 1}]


async def test_native_type() -> None:
    params = {
        "rules": [
            {
                "conditions": {
                    "conditions": [
                        {"leftValue": 2, "rightValue": 1, "operator": {"type": "number", "operation": "gt"}}
                    ]
                }
            }
        ]
    }
    out = await run("relayflow.switch", params, [{"k": 1}])
    assert output_json(out, 0) == [{"k": 1}]


@pytest.mark.parametrize("name", golden_names("switch"))
async def test_golden(name: str) -> None:
    got, expected = await run_golden(name)
    assert got == expected
