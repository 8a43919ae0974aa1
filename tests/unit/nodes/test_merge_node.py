"""Merge: append, join by fields, by position, all combinations, choose branch, legacy modes."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.nodes.merge_node import ClashHandling, MergeParams, input_names, merge_json
from relayflow.testing import NodeRunFailed, output_json
from tests.unit.nodes.logic_helpers import golden_names, run, run_golden

USERS = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}, {"id": 3, "name": "Cy"}]
ORDERS = [{"uid": 2, "total": 10}, {"uid": 1, "total": 5}, {"uid": 2, "total": 7}, {"uid": 9, "total": 1}]


async def merge(params: dict[str, Any], in1: Any, in2: Any, version: float = 3.2, **kw: Any) -> list[Any]:
    return await run("n8n-nodes-base.merge", params, in1, type_version=version, extra_inputs=[in2], **kw)


def by_fields(join: str, **extra: Any) -> dict[str, Any]:
    return {
        "mode": "combine",
        "combineBy": "combineByFields",
        "advanced": True,
        "mergeByFields": {"values": [{"field1": "id", "field2": "uid"}]},
        "joinMode": join,
        "options": {},
        **extra,
    }


async def test_append_keeps_input_order_and_pairs_to_each_input() -> None:
    out = await merge({}, USERS[:2], ORDERS[:1])
    assert output_json(out) == [USERS[0], USERS[1], ORDERS[0]]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 1}, {"item": 0, "input": 1}]


async def test_append_with_three_inputs() -> None:
    out = await run(
        "n8n-nodes-base.merge",
        {"numberInputs": 3},
        [{"a": 1}],
        type_version=3.2,
        extra_inputs=[[{"b": 2}], [{"c": 3}]],
    )
    assert output_json(out) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert out[0][2]["pairedItem"] == {"item": 0, "input": 2}


async def test_keep_matches_merges_every_match_with_paired_items() -> None:
    out = await merge(by_fields("keepMatches"), USERS, ORDERS)
    assert output_json(out) == [
        {"id": 1, "name": "Ada", "uid": 1, "total": 5},
        {"id": 2, "name": "Bob", "uid": 2, "total": 10},
        {"id": 2, "name": "Bob", "uid": 2, "total": 7},
    ]
    assert out[0][0]["pairedItem"] == [{"item": 0}, {"item": 1, "input": 1}]


async def test_first_match_only_and_output_from_one_input() -> None:
    out = await merge(by_fields("keepMatches", options={"multipleMatches": "first"}), USERS, ORDERS)
    assert [j["total"] for j in output_json(out)] == [5, 10]
    out = await merge(by_fields("keepMatches", outputDataFrom="input1"), USERS, ORDERS)
    assert output_json(out) == USERS[:2]
    out = await merge(by_fields("keepMatches", outputDataFrom="input2"), USERS, ORDERS)
    assert output_json(out) == ORDERS[:3]


@pytest.mark.parametrize(
    ("join", "extra", "expected_ids"),
    [
        ("keepNonMatches", {}, [(3, None), (None, 9)]),
        ("keepNonMatches", {"outputDataFrom": "input2"}, [(None, 9)]),
        ("keepEverything", {}, [(1, 1), (2, 2), (2, 2), (3, None), (None, 9)]),
        ("enrichInput1", {}, [(1, 1), (2, 2), (2, 2), (3, None)]),
        ("enrichInput2", {}, [(2, 2), (1, 1), (2, 2), (None, 9)]),
    ],
)
async def test_join_modes(join: str, extra: dict[str, Any], expected_ids: list[tuple[Any, Any]]) -> None:
    out = await merge(by_fields(join, **extra), USERS, ORDERS)
    assert [(j.get("id"), j.get("uid")) for j in output_json(out)] == expected_ids


async def test_enrich_input2_keeps_input2_items_and_adds_input1_fields() -> None:
    out = await merge(by_fields("enrichInput2"), USERS, ORDERS)
    assert output_json(out)[0] == {"id": 2, "name": "Bob", "uid": 2, "total": 10}
    assert output_json(out)[3] == {"uid": 9, "total": 1}
    assert out[0][3]["pairedItem"] == {"item": 3, "input": 1}


async def test_fields_to_match_string_and_fuzzy_compare() -> None:
    params = {"mode": "combine", "fieldsToMatchString": "id", "options": {}}
    out = await merge(params, [{"id": 1, "a": 1}], [{"id": "1", "b": 2}])
    assert out == [[]]
    params["options"] = {"fuzzyCompare": True}
    out = await merge(params, [{"id": 1, "a": 1}], [{"id": "1", "b": 2}])
    assert output_json(out) == [{"id": "1", "a": 1, "b": 2}]


async def test_matching_on_nested_fields_unless_dot_notation_is_disabled() -> None:
    params = {"mode": "combine", "fieldsToMatchString": "k.v", "options": {}}
    out = await merge(params, [{"k": {"v": 1}, "a": 1}], [{"k": {"v": 1}, "b": 2}])
    assert output_json(out) == [{"k": {"v": 1}, "a": 1, "b": 2}]
    params["options"] = {"disableDotNotation": True}
    out = await merge(params, [{"k.v": 1, "a": 1}], [{"k.v": 1, "b": 2}])
    assert output_json(out) == [{"k.v": 1, "a": 1, "b": 2}]


async def test_no_fields_to_match_is_an_error() -> None:
    with pytest.raises(NodeRunFailed, match="at least one pair of fields"):
        await merge({"mode": "combine", "fieldsToMatchString": "", "options": {}}, [{}], [{}])


@pytest.mark.parametrize(
    ("clash", "expected"),
    [
        ({}, {"k": {"a": 1, "b": 2}, "x": 2, "y": 1}),
        ({"resolveClash": "preferInput1"}, {"k": {"a": 1, "b": 2}, "x": 1, "y": 1}),
        ({"mergeMode": "shallowMerge"}, {"k": {"b": 2}, "x": 2, "y": 1}),
        ({"resolveClash": "addSuffix"}, {"k_1": {"a": 1}, "x_1": 1, "y_1": 1, "k_2": {"b": 2}, "x_2": 2}),
    ],
)
async def test_combine_by_position_with_clash_handling(
    clash: dict[str, Any], expected: dict[str, Any]
) -> None:
    params = {
        "mode": "combine",
        "combineBy": "combineByPosition",
        "options": {"clashHandling": {"values": clash}},
    }
    out = await merge(params, [{"k": {"a": 1}, "x": 1, "y": 1}], [{"k": {"b": 2}, "x": 2}])
    assert output_json(out) == [expected]


def test_override_empty() -> None:
    prefer_last = ClashHandling(override_empty=True)
    assert merge_json([(0, {"a": 1}), (1, {"a": ""})], prefer_last) == {"a": 1}
    prefer_first = ClashHandling(resolve="preferInput1", override_empty=True)
    assert merge_json([(0, {"a": None}), (1, {"a": 2})], prefer_first) == {"a": 2}
    assert merge_json([(0, {"a": 1}), (1, {"a": 2})], prefer_first) == {"a": 1}


async def test_position_unpaired_items() -> None:
    params: dict[str, Any] = {"mode": "combine", "combineBy": "combineByPosition", "options": {}}
    out = await merge(params, [{"a": 1}, {"a": 2}], [{"b": 1}])
    assert output_json(out) == [{"a": 1, "b": 1}]
    params["options"] = {"includeUnpaired": True}
    out = await merge(params, [{"a": 1}], [{"b": 1}, {"b": 2}])
    assert output_json(out) == [{"a": 1, "b": 1}, {"b": 2}]
    assert out[0][1]["pairedItem"] == {"item": 1, "input": 1}


async def test_combine_all_is_a_cross_product() -> None:
    params = {"mode": "combine", "combineBy": "combineAll", "options": {}}
    out = await merge(params, [{"a": 1}, {"a": 2}], [{"b": 1}, {"b": 2}])
    assert output_json(out) == [{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 1}, {"a": 2, "b": 2}]


async def test_choose_branch() -> None:
    out = await merge({"mode": "chooseBranch", "useDataOfInput": 2}, [{"a": 1}], [{"b": 1}])
    assert output_json(out) == [{"b": 1}]
    assert out[0][0]["pairedItem"] == {"item": 0, "input": 1}
    out = await merge({"mode": "chooseBranch", "output": "empty"}, [{"a": 1}], [{"b": 1}])
    assert output_json(out) == [{}]
    out = await merge({"mode": "chooseBranch", "output": "input2"}, [{"a": 1}], [{"b": 1}], version=2)
    assert output_json(out) == [{"b": 1}]


async def test_sql_mode_is_refused_clearly() -> None:
    with pytest.raises(NodeRunFailed, match=r"'SQL Query' .* is not supported"):
        await merge({"mode": "combineBySql", "query": "SELECT * FROM input1"}, [{}], [{}])


async def test_v2_combine_modes() -> None:
    params = {
        "mode": "combine",
        "mergeByFields": {"values": [{"field1": "id", "field2": "uid"}]},
        "joinMode": "enrichInput1",
        "options": {},
    }
    out = await merge(params, USERS, ORDERS[:2], version=2.1)
    assert output_json(out) == [
        {"id": 1, "name": "Ada", "uid": 1, "total": 5},
        {"id": 2, "name": "Bob", "uid": 2, "total": 10},
        USERS[2],
    ]
    out = await merge(
        {"mode": "combine", "combinationMode": "multiplex", "options": {}},
        [{"a": 1}],
        [{"b": 1}, {"b": 2}],
        version=2,
    )
    assert len(out[0]) == 2


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"mode": "mergeByIndex"}, [{"id": 1, "name": "Ada", "uid": 2, "total": 10}]),
        ({"mode": "keepKeyMatches", "propertyName1": "id", "propertyName2": "uid"}, USERS[:2]),
        ({"mode": "removeKeyMatches", "propertyName1": "id", "propertyName2": "uid"}, [USERS[2]]),
        ({"mode": "passThrough", "output": "input2"}, ORDERS[:1]),
        ({"mode": "wait"}, [{}]),
        ({"mode": "multiplex"}, [{"id": 1, "name": "Ada", "uid": 2, "total": 10}]),
    ],
)
async def test_v1_modes(params: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    in1 = USERS if params["mode"].endswith("Matches") else USERS[:1]
    in2 = ORDERS if params["mode"].endswith("Matches") else ORDERS[:1]
    out = await merge(params, in1, in2, version=1)
    assert output_json(out) == expected


@pytest.mark.parametrize(("overwrite", "expected"), [("always", "B"), ("undefined", "a"), ("blank", "B")])
async def test_v1_merge_by_key_overwrite(overwrite: str, expected: str) -> None:
    params = {"mode": "mergeByKey", "propertyName1": "k", "propertyName2": "k", "overwrite": overwrite}
    first = "" if overwrite == "blank" else "a"
    out = await merge(params, [{"k": 1, "v": first}, {"k": 3, "v": "c"}], [{"k": "1", "v": "B"}], version=1)
    assert output_json(out) == [{"k": 1 if overwrite != "always" else "1", "v": expected}, {"k": 3, "v": "c"}]


async def test_runs_with_an_empty_input() -> None:
    out = await merge({}, USERS[:1], None)
    assert output_json(out) == USERS[:1]
    out = await merge(by_fields("enrichInput1"), USERS[:1], None)
    assert output_json(out) == USERS[:1]


def test_inputs_follow_number_inputs() -> None:
    assert input_names(MergeParams(number_inputs=3)) == ("input1", "input2", "input3")
    assert input_names(MergeParams(mode="combineByFields", number_inputs=3)) == ("input1", "input2")
    assert input_names(None) == ("input1", "input2")


async def test_native_type() -> None:
    params = {"mode": "combineByFields", "fields": [{"field1": "id", "field2": "uid"}], "join": "keepMatches"}
    out = await run("relayflow.merge", params, USERS, extra_inputs=[ORDERS[:2]])
    assert len(out[0]) == 2


@pytest.mark.parametrize("name", golden_names("merge"))
async def test_golden(name: str) -> None:
    got, expected = await run_golden(name)
    assert got == expected
