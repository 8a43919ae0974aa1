"""Rename Keys (n8n renameKeys v1)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json, run_node

T = "n8n-nodes-base.renameKeys"


def keys(*pairs: tuple[str, str], regex: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"keys": {"key": [{"currentKey": c, "newKey": n} for c, n in pairs]}}
    if regex is not None:
        params["additionalOptions"] = {"regexReplacement": {"replacements": regex}}
    return params


async def test_rename_by_name_and_paths_without_touching_input() -> None:
    items = [{"toBeRenamed": 1, "a": {"b": 2, "c": 3}, "keep": True}]
    before = copy.deepcopy(items)
    out = await run_node(T, keys(("toBeRenamed", "Renamed"), ("a.b", "x.y"), ("missing", "z")), items)
    assert output_json(out) == [{"keep": True, "a": {"c": 3}, "Renamed": 1, "x": {"y": 2}}]
    assert items == before


async def test_regex_with_groups_all_levels() -> None:
    regex = [{"searchRegex": "^(\\w+)_id$", "replaceRegex": "$1Id"}]
    items = [{"user_id": 1, "nested": {"order_id": 2, "list": [{"item_id": 3}]}}]
    out = output_json(await run_node(T, keys(regex=regex), items))
    assert out == [{"userId": 1, "nested": {"orderId": 2, "list": [{"itemId": 3}]}}]


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (0, {"bb": {"a": {"c": 1}}}),
        (1, {"bb": {"aa": {"c": 1}}}),
        (-1, {"bb": {"aa": {"cc": 1}}}),
    ],
)
async def test_regex_depth(depth: int, expected: dict[str, Any]) -> None:
    regex = [{"searchRegex": "(?<ch>[a-z])", "replaceRegex": "$<ch>$&", "options": {"depth": depth}}]
    assert output_json(await run_node(T, keys(regex=regex), [{"b": {"a": {"c": 1}}}])) == [expected]


@pytest.mark.parametrize(("insensitive", "expected"), [(True, {"$_D": 1}), (False, {"ID": 1})])
async def test_regex_case_insensitive(insensitive: bool, expected: dict[str, Any]) -> None:
    # "$$" is a literal dollar in JavaScript replacement strings
    regex = [{"searchRegex": "^i", "replaceRegex": "$$_", "options": {"caseInsensitive": insensitive}}]
    assert output_json(await run_node(T, keys(regex=regex), [{"ID": 1}])) == [expected]


async def test_regex_replacement_rewrites_every_match() -> None:
    regex = [{"searchRegex": "-", "replaceRegex": "_"}]
    assert output_json(await run_node(T, keys(regex=regex), [{"a-b-c": 1}])) == [{"a_b_c": 1}]


async def test_bad_regex_is_reported() -> None:
    with pytest.raises(NodeRunFailed, match="invalid regular expression"):
        await run_node(T, keys(regex=[{"searchRegex": "(", "replaceRegex": ""}]), [{"a": 1}])


async def test_relayflow_type_takes_our_shape() -> None:
    params = {
        "keys": [{"current_key": "a", "new_key": "b"}],
        "regex_replacements": [{"search_regex": "b", "replace_regex": "c"}],
    }
    assert output_json(await run_node("relayflow.renameKeys", params, [{"a": 1}])) == [{"c": 1}]
