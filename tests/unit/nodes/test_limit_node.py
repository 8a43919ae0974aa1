"""Limit (n8n limit v1)."""

from __future__ import annotations

import pytest

from relayflow.testing import output_json, run_node

ITEMS = [{"i": i} for i in range(5)]


@pytest.mark.parametrize(
    ("params", "expected", "paired"),
    [
        ({}, [0], [0]),  # n8n's default: 1 item, the first
        ({"maxItems": 3}, [0, 1, 2], [0, 1, 2]),
        ({"maxItems": 2, "keep": "lastItems"}, [3, 4], [3, 4]),
        ({"maxItems": 10, "keep": "lastItems"}, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]),
        ({"maxItems": 0}, [], []),
    ],
)
async def test_limit(params: dict[str, object], expected: list[int], paired: list[int]) -> None:
    out = await run_node("n8n-nodes-base.limit", params, ITEMS)
    assert [o["i"] for o in output_json(out)] == expected
    assert [it["pairedItem"]["item"] for it in out[0]] == paired


async def test_relayflow_type() -> None:
    out = await run_node("relayflow.limit", {"max_items": 2, "keep": "lastItems"}, ITEMS)
    assert output_json(out) == [{"i": 3}, {"i": 4}]
