"""The Code node in Python (n8n ``code`` v1/v2, ``language`` python / pythonNative), through the
engine and the real sandbox: n8n's Python API, both modes, return shapes, print capture, errors
with line numbers, onError, and an n8n-shaped workflow run end to end.

Needs bubblewrap and user namespaces: skipped with the reason on a machine without them, failed
under RELAYFLOW_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node, run_workflow
from tests.unit.sandbox.support import PYTHON_VARS, require_sandbox

CODE = "n8n-nodes-base.code"
ITEMS = [{"name": "ada", "n": 1}, {"name": "bob", "n": 2}]


@pytest.fixture(autouse=True)
def _sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in PYTHON_VARS:
        monkeypatch.delenv(name, raising=False)
    require_sandbox()
    yield


async def py(
    code: str, items: Any = None, *, language: str = "python", **params: Any
) -> list[dict[str, Any]]:
    out = await run_node(
        CODE,
        {"language": language, "pythonCode": code, **params},
        ITEMS if items is None else items,
        type_version=2,
    )
    return output_json(out)


async def py_fails(code: str, **params: Any) -> dict[str, Any]:
    with pytest.raises(NodeRunFailed) as info:
        await py(code, **params)
    return info.value.error


# ---- the API ------------------------------------------------------------------------------------
async def test_all_items_with_input_helpers_and_attribute_access() -> None:
    code = (
        "out = []\n"
        "for i, item in enumerate(_input.all()):\n"
        "    out.append({'json': {**item.json.to_py(), 'i': i, 'first': _input.first().json.name,\n"
        "                         'last': _input.last()['json']['name'], 'count': len(_items)}})\n"
        "return out"
    )
    assert await py(code) == [
        {"name": "ada", "n": 1, "i": 0, "first": "ada", "last": "bob", "count": 2},
        {"name": "bob", "n": 2, "i": 1, "first": "ada", "last": "bob", "count": 2},
    ]


async def test_native_python_brackets_and_items() -> None:
    code = "for item in _items:\n    item['json']['double'] = item['json']['n'] * 2\nreturn _items"
    assert await py(code, language="pythonNative") == [
        {"name": "ada", "n": 1, "double": 2},
        {"name": "bob", "n": 2, "double": 4},
    ]


async def test_each_item_mode() -> None:
    code = "_input.item.json.upper = _json['name'].upper()\n_item.json.same = _item is _input.item\nreturn _input.item"
    assert await py(code, mode="runOnceForEachItem") == [
        {"name": "ada", "n": 1, "upper": "ADA", "same": True},
        {"name": "bob", "n": 2, "upper": "BOB", "same": True},
    ]


async def test_each_item_mode_return_shapes() -> None:
    # None drops the item, a plain dict becomes its json, a list makes several items
    code = "if _json['n'] == 1:\n    return None\nreturn [{'v': 1}, {'json': {'v': 2}}]"
    out = await run_node(
        CODE, {"language": "python", "mode": "runOnceForEachItem", "pythonCode": code}, ITEMS, type_version=2
    )
    assert out[0] == [
        {"json": {"v": 1}, "pairedItem": {"item": 1}},
        {"json": {"v": 2}, "pairedItem": {"item": 1}},
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return [{'a': 1}, {'json': {'b': 2}}]", [{"a": 1}, {"b": 2}]),  # bare dicts are wrapped
        ("return {'single': True}", [{"single": True}]),
        ("return {'json': {'wrapped': 1}}", [{"wrapped": 1}]),
        ("return _input.all()", ITEMS),
        ("return []", []),
        ("return [{'t': (1, 2), 's': {3}, 'k': {1: 'x'}}]", [{"t": [1, 2], "s": [3], "k": {"1": "x"}}]),
    ],
)
async def test_return_shapes(code: str, expected: list[dict[str, Any]]) -> None:
    assert await py(code) == expected


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("return 5", "Code doesn't return items properly"),
        ("return [1, 2]", "Code doesn't return items properly"),
        ("return [{'json': 5}]", "'json' property must be an object"),
        ("return [{'o': object()}]", "TypeError: the code returned a value that is not JSON"),
    ],
)
async def test_bad_returns_fail_clearly(code: str, message: str) -> None:
    assert message in (await py_fails(code))["message"]


async def test_node_workflow_execution_and_time_variables() -> None:
    code = (
        "return {'node': _node.name, 'type': _node.type, 'wf': _workflow.name, 'exec': _execution.id,\n"
        "        'run': _runIndex, 'now': _now.isoformat(), 'today': _today.hour}"
    )
    engine = make_engine(fake_clock=True)
    out = output_json(
        await run_node(CODE, {"language": "python", "pythonCode": code}, ITEMS, type_version=2, engine=engine)
    )
    assert out[0]["node"] == "Node" and out[0]["type"] == CODE
    assert out[0]["wf"] == f"test {CODE}" and out[0]["exec"] and out[0]["run"] == 0
    assert datetime.fromisoformat(out[0]["now"]) == datetime(2024, 1, 1, tzinfo=UTC)
    assert out[0]["today"] == 0


async def test_input_is_not_mutated_and_binary_passes_through() -> None:
    items = [{"json": {"deep": {"k": 1}}, "binary": {"data": {"data": "aGk=", "mimeType": "text/plain"}}}]
    code = "it = _input.first()\nit.json.deep.k = 99\nreturn [{'json': {'mime': it.binary.data.mimeType}, 'binary': it.binary}]"
    out = await run_node(CODE, {"language": "python", "pythonCode": code}, items, type_version=2)
    assert out[0][0]["json"] == {"mime": "text/plain"}
    assert out[0][0]["binary"] == {"data": {"data": "aGk=", "mimeType": "text/plain"}}
    assert items[0]["json"] == {"deep": {"k": 1}}


async def test_default_code_when_the_export_has_none() -> None:
    out = await run_node(CODE, {"language": "python"}, ITEMS, type_version=2)
    assert output_json(out) == [{**i, "myNewField": 1} for i in ITEMS]
    out = await run_node(CODE, {"language": "python", "mode": "runOnceForEachItem"}, ITEMS, type_version=2)
    assert output_json(out) == [{**i, "myNewField": 1} for i in ITEMS]


async def test_top_level_await() -> None:
    assert await py("import asyncio\nawait asyncio.sleep(0)\nreturn {'ok': 1}") == [{"ok": 1}]


async def test_threads_work() -> None:
    code = (
        "import threading\nout = []\n"
        "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
        "[t.start() for t in ts]\n[t.join() for t in ts]\nreturn {'n': sorted(out)}"
    )
    assert await py(code) == [{"n": [0, 1, 2, 3]}]


# ---- print --------------------------------------------------------------------------------------
async def test_print_is_captured_into_the_run_record() -> None:
    wf_items = [{"n": 1}]
    code = "import sys\nprint('hello', _json['n'], sep='-')\nprint('two\\nlines')\nsys.stderr.write('err\\n')\nreturn _input.item"
    engine = make_engine()
    from relayflow.testing import node_workflow

    wf = node_workflow(
        CODE, {"language": "python", "mode": "runOnceForEachItem", "pythonCode": code}, type_version=2
    )
    record = await run_workflow(wf, input=wf_items, engine=engine)
    assert record.status.value == "succeeded"
    assert record.runs_of("Node")[-1].logs == ["hello-1", "two", "lines", "err"]


async def test_print_before_an_error_is_kept() -> None:
    from relayflow.testing import node_workflow

    wf = node_workflow(CODE, {"language": "python", "pythonCode": "print('before')\nraise ValueError('boom')"},
                       type_version=2)  # fmt: skip
    record = await run_workflow(wf, input=ITEMS)
    assert record.status.value == "failed"
    assert record.runs_of("Node")[-1].logs == ["before"]


# ---- errors -------------------------------------------------------------------------------------
async def test_error_names_exception_message_and_line() -> None:
    err = await py_fails("x = 1\n\ny = x / 0")
    assert err["message"] == "ZeroDivisionError: division by zero [line 3]"
    assert err["code"] == "node_error"


async def test_syntax_error_names_the_line() -> None:
    err = await py_fails("x = 1\nif x\n    pass")
    assert err["message"].startswith("SyntaxError: ") and err["message"].endswith("[line 2]")


async def test_each_item_error_names_the_item() -> None:
    err = await py_fails(
        "if _json['n'] == 2:\n    raise ValueError('bad')\nreturn _input.item", mode="runOnceForEachItem"
    )
    assert err["message"] == "ValueError: bad [line 2, for item 1]"
    assert err["itemIndex"] == 1


async def test_input_item_in_all_items_mode_explains() -> None:
    err = await py_fails("return _input.item")
    assert "once for each item" in err["message"]


async def test_each_item_errors_with_on_error_continue() -> None:
    code = "if _json['n'] == 2:\n    raise ValueError('bad')\nreturn _input.item"
    params = {"language": "python", "mode": "runOnceForEachItem", "pythonCode": code}
    items = [{"n": 1}, {"n": 2}, {"n": 3}]
    out = await run_node(
        CODE, params, items, type_version=2, node_fields={"onError": "continueRegularOutput"}
    )
    assert output_json(out) == [{"n": 1}, {"error": "ValueError: bad [line 2, for item 1]"}, {"n": 3}]
    out = await run_node(
        CODE, params, items, type_version=2, outputs=2, node_fields={"onError": "continueErrorOutput"}
    )
    assert output_json(out, 0) == [{"n": 1}, {"n": 3}]
    assert output_json(out, 1) == [{"n": 2, "error": "ValueError: bad [line 2, for item 1]"}]


async def test_all_items_error_with_continue_on_fail() -> None:
    out = await run_node(
        CODE,
        {"language": "python", "pythonCode": "raise RuntimeError('nope')"},
        ITEMS,
        type_version=2,
        node_fields={"continueOnFail": True},
    )
    assert "RuntimeError: nope [line 1]" in str(output_json(out))


# ---- modules ------------------------------------------------------------------------------------
async def test_standard_library_imports_work_others_are_refused() -> None:
    assert await py("import json, re, hashlib\nreturn {'h': hashlib.sha1(b'x').hexdigest()[:6]}") == [
        {"h": "11f6ad"}
    ]
    err = await py_fails("import orjson")
    assert (
        "import of 'orjson' is not allowed" in err["message"]
        and "RELAYFLOW_CODE_ALLOW_MODULES" in err["message"]
    )
    err = await py_fails("import importlib\nimportlib.import_module('pydantic')")
    assert "import of 'pydantic' is not allowed" in err["message"]


async def test_allowed_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_CODE_ALLOW_MODULES", "orjson")
    assert await py("import orjson\nreturn {'s': orjson.dumps([1]).decode()}") == [{"s": "[1]"}]


async def test_runs_do_not_share_state() -> None:
    first = "import json, os\njson.MARK = 1\nopen('/tmp/mark', 'w').write('x')\nreturn {'pid': os.getpid()}"
    await py(first)
    second = "import json, os\nreturn {'mark': hasattr(json, 'MARK'), 'file': os.path.exists('/tmp/mark')}"
    assert await py(second) == [{"mark": False, "file": False}]


# ---- end to end ---------------------------------------------------------------------------------
N8N_WORKFLOW: dict[str, Any] = {
    "name": "Python code e2e",
    "nodes": [
        {"parameters": {}, "name": "When clicking 'Test workflow'", "type": "n8n-nodes-base.manualTrigger",
         "typeVersion": 1, "position": [0, 0], "id": "a1"},
        {"parameters": {"language": "python",
                        "pythonCode": "total = sum(i.json.n for i in _input.all())\nprint('total', total)\n"
                                      "return [{'json': {'name': i.json.name, 'share': i.json.n / total}}\n"
                                      "        for i in _input.all()]"},
         "name": "Shares", "type": "n8n-nodes-base.code", "typeVersion": 2, "position": [200, 0], "id": "a2"},
        {"parameters": {"mode": "runOnceForEachItem", "language": "pythonNative",
                        "pythonCode": "_item['json']['pct'] = round(_item['json']['share'] * 100)\nreturn _item"},
         "name": "Percent", "type": "n8n-nodes-base.code", "typeVersion": 2, "position": [400, 0], "id": "a3"},
    ],
    "connections": {
        "When clicking 'Test workflow'": {"main": [[{"node": "Shares", "type": "main", "index": 0}]]},
        "Shares": {"main": [[{"node": "Percent", "type": "main", "index": 0}]]},
    },
}  # fmt: skip


async def test_n8n_workflow_with_python_code_nodes_end_to_end() -> None:
    record = await run_workflow(N8N_WORKFLOW, input=[{"name": "a", "n": 1}, {"name": "b", "n": 3}])
    assert record.status.value == "succeeded", record.error
    assert record.runs_of("Shares")[-1].logs == ["total 4"]
    out = record.runs_of("Percent")[-1].output or []
    assert [i["json"] for i in out[0]] == [
        {"name": "a", "share": 0.25, "pct": 25},
        {"name": "b", "share": 0.75, "pct": 75},
    ]
