"""Set / Edit Fields: every n8n version's shape, include modes, dot notation, type conversion."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relayflow.nodes.set_node import convert
from relayflow.testing import NodeRunFailed, output_json
from tests.unit.nodes.logic_helpers import HAVE_EXPRESSIONS, golden_names, run, run_golden

ITEM = {"id": 7, "user": {"name": "Ada", "age": 36}, "tags": ["a"]}


def assignments(*specs: tuple[str, Any, str], **extra: Any) -> dict[str, Any]:
    rows = [{"id": str(k), "name": n, "value": v, "type": t} for k, (n, v, t) in enumerate(specs)]
    return {"assignments": {"assignments": rows}, "options": {}, **extra}


async def test_v34_sets_fields_and_drops_the_others_by_default() -> None:
    out = await run(
        "n8n-nodes-base.set",
        assignments(("a", "x", "string"), ("n", "5", "number")),
        [ITEM],
        type_version=3.4,
    )
    assert output_json(out) == [{"a": "x", "n": 5}]
    assert out[0][0]["pairedItem"] == {"item": 0}


async def test_include_other_fields_and_dot_notation_do_not_mutate_the_input() -> None:
    item = copy.deepcopy(ITEM)
    params = assignments(("user.age", 37, "number"), ("user.tags[1]", "b", "string"), includeOtherFields=True)
    out = await run("n8n-nodes-base.set", params, [item], type_version=3.3)
    assert output_json(out) == [
        {"id": 7, "user": {"name": "Ada", "age": 37, "tags": [None, "b"]}, "tags": ["a"]}
    ]
    assert item == ITEM


async def test_dot_notation_off_keeps_dots_in_names() -> None:
    params = assignments(("a.b", 1, "number"), options={"dotNotation": False})
    out = await run("n8n-nodes-base.set", params, [{}], type_version=3.4)
    assert output_json(out) == [{"a.b": 1}]


@pytest.mark.parametrize(
    ("include", "fields", "expected"),
    [
        ("selected", {"includeFields": "id, user.name, missing"}, {"id": 7, "user": {"name": "Ada"}, "x": 1}),
        ("except", {"excludeFields": "user.age,tags"}, {"id": 7, "user": {"name": "Ada"}, "x": 1}),
        ("all", {}, {**ITEM, "x": 1}),
    ],
)
async def test_include_modes(include: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    params = assignments(("x", 1, "number"), includeOtherFields=True, include=include, **fields)
    out = await run("n8n-nodes-base.set", params, [ITEM], type_version=3.4)
    assert output_json(out) == [expected]


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("string", 5, "5"),
        ("string", {"a": 1}, '{"a":1}'),
        ("string", True, "true"),
        ("number", "42", 42),
        ("number", "4.5", 4.5),
        ("boolean", "true", True),
        ("boolean", "0", False),
        ("array", '[1, "b"]', [1, "b"]),
        ("object", '{"k": [1]}', {"k": [1]}),
        ("object", {"k": 1}, {"k": 1}),
        ("number", None, None),
    ],
)
def test_type_conversion(type_: str, value: Any, expected: Any) -> None:
    assert convert("f", value, type_, False) == expected


@pytest.mark.parametrize(
    ("type_", "value"),
    [("number", "abc"), ("boolean", "maybe"), ("array", "{}"), ("object", "[1]"), ("object", "not json")],
)
def test_conversion_errors_name_the_field(type_: str, value: Any) -> None:
    with pytest.raises(Exception, match=f"'f' expects a {type_}"):
        convert("f", value, type_, False)
    assert convert("f", value, type_, True) == value


async def test_conversion_error_fails_the_item_unless_ignored() -> None:
    params = assignments(("n", "abc", "number"))
    with pytest.raises(NodeRunFailed, match="'n' expects a number but we got 'abc'"):
        await run("n8n-nodes-base.set", params, [{}], type_version=3.4)
    params["options"] = {"ignoreConversionErrors": True}
    out = await run("n8n-nodes-base.set", params, [{}], type_version=3.4)
    assert output_json(out) == [{"n": "abc"}]


async def test_conversion_error_with_continue_regular_output() -> None:
    params = assignments(("n", "={{ $json.v }}", "number"))
    out = await run(
        "n8n-nodes-base.set",
        params,
        [{"v": "1"}, {"v": "x"}],
        type_version=3.4,
        fake_expressions=True,
        node_fields={"onError": "continueRegularOutput"},
    )
    assert output_json(out) == [{"n": 1}, {"error": "'n' expects a number but we got 'x'"}]


async def test_per_item_values_and_names_from_expressions() -> None:
    params = assignments(
        ("copy", "={{ $json.v }}", "string"), ("={{ $json.key }}", 1, "number"), includeOtherFields=True
    )
    items = [{"v": 1, "key": "k1"}, {"v": "two", "key": "k2"}]
    out = await run("n8n-nodes-base.set", params, items, type_version=3.4, fake_expressions=True)
    assert output_json(out) == [
        {"v": 1, "key": "k1", "copy": "1", "k1": 1},
        {"v": "two", "key": "k2", "copy": "two", "k2": 1},
    ]


@pytest.mark.skipif(not HAVE_EXPRESSIONS, reason="the expression engine has not landed yet")
async def test_real_expressions() -> None:
    params = assignments(
        ("double", "={{ $json.n * 2 }}", "number"), ("label", "=n is {{ $json.n }}", "string")
    )
    out = await run("n8n-nodes-base.set", params, [{"n": 2}, {"n": 5}], type_version=3.4)
    assert output_json(out) == [{"double": 4, "label": "n is 2"}, {"double": 10, "label": "n is 5"}]


async def test_static_containers_are_not_shared_between_items() -> None:
    out = await run(
        "n8n-nodes-base.set", assignments(("o", {"a": [1]}, "object")), [{}, {}], type_version=3.4
    )
    assert output_json(out) == [{"o": {"a": [1]}}, {"o": {"a": [1]}}]
    assert out[0][0]["json"]["o"] is not out[0][1]["json"]["o"]


async def test_v1_legacy_values_order_and_keep_only_set() -> None:
    params = {
        "values": {
            "string": [{"name": "s", "value": "v"}],
            "number": [{"name": "n", "value": 3}],
            "boolean": [{"name": "b", "value": True}],
        },
        "options": {},
    }
    out = await run("n8n-nodes-base.set", params, [{"x": 1}], type_version=1)
    assert list(output_json(out)[0]) == ["x", "b", "n", "s"]
    out = await run("n8n-nodes-base.set", {**params, "keepOnlySet": True}, [{"x": 1}], type_version=2)
    assert output_json(out) == [{"b": True, "n": 3, "s": "v"}]


async def test_v3_fields_shape_defaults_to_no_other_fields() -> None:
    params = {
        "fields": {
            "values": [
                {"name": "lang"},
                {"name": "n", "type": "numberValue", "numberValue": "7"},
                {"name": "ok", "type": "booleanValue", "booleanValue": "true"},
                {"name": "o", "type": "objectValue", "objectValue": '{"a": 1}'},
            ]
        },
        "options": {},
    }
    out = await run("n8n-nodes-base.set", params, [{"x": 1}], type_version=3.2)
    assert output_json(out) == [{"lang": "", "n": 7, "ok": True, "o": {"a": 1}}]
    out = await run("n8n-nodes-base.set", {**params, "include": "all"}, [{"x": 1}], type_version=3)
    assert output_json(out)[0]["x"] == 1


async def test_raw_mode_merges_a_json_object() -> None:
    params = {"mode": "raw", "jsonOutput": '{"a": 1, "b": [2]}', "includeOtherFields": True, "options": {}}
    out = await run("n8n-nodes-base.set", params, [{"a": 0, "c": 3}], type_version=3.3)
    assert output_json(out) == [{"a": 1, "c": 3, "b": [2]}]
    with pytest.raises(NodeRunFailed, match="'JSON Output' does not contain valid JSON"):
        await run("n8n-nodes-base.set", {**params, "jsonOutput": "{nope"}, [{}], type_version=3.4)


async def test_binary_is_kept_unless_excluded() -> None:
    item = {"json": {"a": 1}, "binary": {"data": {"data": "aGk=", "mimeType": "text/plain"}}}
    out = await run("n8n-nodes-base.set", assignments(("b", 2, "number")), [item], type_version=3.4)
    assert out[0][0]["binary"] == item["binary"]
    params = assignments(("b", 2, "number"), options={"includeBinary": False})
    out = await run("n8n-nodes-base.set", params, [item], type_version=3.3)
    assert "binary" not in out[0][0]


async def test_native_type() -> None:
    params = {"assignments": [{"name": "a", "value": "1", "type": "number"}], "include": "all"}
    out = await run("relayflow.set", params, [{"z": 0}])
    assert output_json(out) == [{"z": 0, "a": 1}]


@pytest.mark.parametrize("name", golden_names("set"))
async def test_golden(name: str) -> None:
    got, expected = await run_golden(name)
    assert got == expected
