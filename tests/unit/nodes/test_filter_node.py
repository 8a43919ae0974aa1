"""Filter: keeps the items whose conditions hold."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json
from tests.unit.nodes.logic_helpers import golden_names, run, run_golden

ITEMS = [
    {"name": "report.pdf", "score": 0.9},
    {"name": "notes.md", "score": 0.2},
    {"name": "b.PDF", "score": "0.7"},
]


def params(
    left: Any, op: str, right: Any, type_: str, options: dict[str, Any] | None = None, combinator: str = "and"
) -> dict[str, Any]:
    return {
        "conditions": {
            "options": {"caseSensitive": True, "typeValidation": "strict"},
            "conditions": [
                {
                    "id": "1",
                    "leftValue": left,
                    "rightValue": right,
                    "operator": {"type": type_, "operation": op},
                }
            ],
            "combinator": combinator,
        },
        "options": options or {},
    }


async def test_v2_keeps_matching_items_with_their_pairing() -> None:
    out = await run(
        "n8n-nodes-base.filter",
        params("={{ $json.name }}", "endsWith", ".pdf", "string"),
        ITEMS,
        type_version=2.2,
        fake_expressions=True,
    )
    assert output_json(out) == [ITEMS[0]]
    assert out[0][0]["pairedItem"] == {"item": 0}
    assert len(out) == 1


async def test_ignore_case_option() -> None:
    out = await run(
        "n8n-nodes-base.filter",
        params("={{ $json.name }}", "endsWith", ".pdf", "string", {"ignoreCase": True}),
        ITEMS,
        type_version=2,
        fake_expressions=True,
    )
    assert output_json(out) == [ITEMS[0], ITEMS[2]]


async def test_strict_validation_fails_then_loose_option_converts() -> None:
    strict = params("={{ $json.score }}", "gt", 0.6, "number")
    with pytest.raises(NodeRunFailed, match=r"'0\.7' is a string but was expecting a number"):
        await run("n8n-nodes-base.filter", strict, ITEMS, type_version=2.2, fake_expressions=True)
    loose = params("={{ $json.score }}", "gt", 0.6, "number", {"looseTypeValidation": True})
    out = await run("n8n-nodes-base.filter", loose, ITEMS, type_version=2.2, fake_expressions=True)
    assert output_json(out) == [ITEMS[0], ITEMS[2]]


async def test_drops_everything_when_nothing_matches() -> None:
    out = await run("n8n-nodes-base.filter", params(1, "equals", 2, "number"), ITEMS, type_version=2.1)
    assert out == [[]]


async def test_v1_legacy_conditions_with_or() -> None:
    legacy = {
        "conditions": {
            "number": [{"value1": 1, "operation": "larger", "value2": 5}],
            "string": [{"value1": "x", "operation": "equal", "value2": "x"}],
        },
        "combineConditions": "OR",
    }
    out = await run("n8n-nodes-base.filter", legacy, ITEMS, type_version=1)
    assert output_json(out) == ITEMS


async def test_continue_regular_output_drops_failing_items() -> None:
    out = await run(
        "n8n-nodes-base.filter",
        params("={{ $json.score }}", "gt", 0.5, "number"),
        ITEMS,
        type_version=2.2,
        fake_expressions=True,
        node_fields={"onError": "continueRegularOutput"},
    )
    assert output_json(out) == [ITEMS[0]]


async def test_native_type() -> None:
    native = {"conditions": params(3, "lt", 4, "number")["conditions"]}
    out = await run("relayflow.filter", native, ITEMS)
    assert output_json(out) == ITEMS


@pytest.mark.parametrize("name", golden_names("filter"))
async def test_golden(name: str) -> None:
    got, expected = await run_golden(name)
    assert got == expected
