"""The Code node (n8n's code v1/v2) and the legacy Function and Function Item nodes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from relayflow.engine.expression import ExpressionScope
from relayflow.expressions import V8ExpressionEngine
from relayflow.expressions.code import run_js
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node, run_workflow

CODE = "n8n-nodes-base.code"
ITEMS = [{"name": "ada", "n": 1}, {"name": "bob", "n": 2}]


async def code(js: str, items: Any = None, **params: Any) -> list[dict[str, Any]]:
    out = await run_node(CODE, {"jsCode": js, **params}, ITEMS if items is None else items, type_version=2)
    return output_json(out)


async def test_all_items_mode_with_input_helpers() -> None:
    js = "return $input.all().map((it, i) => ({json: {...it.json, i, first: $input.first().json.name}}))"
    assert await code(js) == [
        {"name": "ada", "n": 1, "i": 0, "first": "ada"},
        {"name": "bob", "n": 2, "i": 1, "first": "ada"},
    ]


@pytest.mark.parametrize(
    ("js", "expected"),
    [
        ("return [{a: 1}, {json: {b: 2}}]", [{"a": 1}, {"b": 2}]),  # bare objects are wrapped
        ("return {single: true}", [{"single": True}]),
        ("return items.map(i => i.json.n * 10).map(v => ({v}))", [{"v": 10}, {"v": 20}]),  # legacy `items`
        ("return []", []),
    ],
)
async def test_return_shapes(js: str, expected: list[dict[str, Any]]) -> None:
    assert await code(js) == expected


async def test_input_items_are_not_mutated() -> None:
    items = [{"json": {"n": 1, "deep": {"k": 1}}}]
    await run_node(CODE, {"jsCode": "for (const i of $input.all()) { i.json.deep.k = 99 } return $input.all()"},
                   items, type_version=2)  # fmt: skip
    assert items == [{"json": {"n": 1, "deep": {"k": 1}}}]


async def test_binary_and_paired_item_are_kept() -> None:
    js = "return [{json: {x: 1}, binary: {data: {data: 'aGk=', mimeType: 'text/plain'}}, pairedItem: {item: 1}}]"
    out = await run_node(CODE, {"jsCode": js}, ITEMS, type_version=2)
    assert out[0] == [
        {
            "json": {"x": 1},
            "binary": {"data": {"data": "aGk=", "mimeType": "text/plain"}},
            "pairedItem": {"item": 1},
        }
    ]


async def test_each_item_mode() -> None:
    js = (
        "if ($json.n === 2) return null;\nreturn {name: $input.item.json.name.toUpperCase(), idx: $itemIndex}"
    )
    items = [*ITEMS, {"name": "cy", "n": 3}]
    out = await run_node(CODE, {"mode": "runOnceForEachItem", "jsCode": js}, items, type_version=2)
    assert output_json(out) == [{"name": "ADA", "idx": 0}, {"name": "CY", "idx": 2}]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 2}]


async def test_each_item_mode_may_return_several_items() -> None:
    js = "return [{v: $json.n}, {v: -$json.n}]"
    out = await run_node(CODE, {"mode": "runOnceForEachItem", "jsCode": js}, ITEMS, type_version=2)
    assert output_json(out) == [{"v": 1}, {"v": -1}, {"v": 2}, {"v": -2}]
    assert [it["pairedItem"]["item"] for it in out[0]] == [0, 0, 1, 1]


async def test_async_code_and_timers() -> None:
    js = "const v = await new Promise(r => setTimeout(() => r(41), 5));\nreturn [{v: v + 1}]"
    assert await code(js) == [{"v": 42}]
    assert await code("return Promise.resolve([{p: 1}])") == [{"p": 1}]
    each = "await null; return {n: $json.n * 2}"
    out = await run_node(CODE, {"mode": "runOnceForEachItem", "jsCode": each}, ITEMS, type_version=2)
    assert output_json(out) == [{"n": 2}, {"n": 4}]


async def test_console_log_is_captured_in_the_run() -> None:
    wf = {
        "nodes": [
            {"name": "T", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {"name": "C", "type": CODE, "typeVersion": 2,
             "parameters": {"jsCode": "console.log('count', $input.all().length, {a: 1}); return []"}},
        ],
        "connections": {"T": {"main": [[{"node": "C", "type": "main", "index": 0}]]}},
    }  # fmt: skip
    rec = await run_workflow(wf, input=ITEMS)
    assert rec.runs_of("C")[0].logs == ['count 2 {"a":1}']


async def test_other_nodes_and_static_data() -> None:
    wf = {
        "nodes": [
            {"name": "T", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {"name": "Tag", "type": CODE, "typeVersion": 2, "parameters": {
                "mode": "runOnceForEachItem", "jsCode": "return {tag: 't' + $json.n}"}},
            {"name": "Use", "type": CODE, "typeVersion": 2, "parameters": {"jsCode": (
                "const sd = $getWorkflowStaticData('global'); sd.runs = (sd.runs || 0) + 1;\n"
                "return $input.all().map((it, i) => ({json: {tag: it.json.tag, n: $('T').itemMatching(i).json.n,"
                " first: $('T').first().json.name, count: $('Tag').all().length, runs: sd.runs,"
                " executed: $('Nope').isExecuted}}))")}},
            {"name": "Each", "type": CODE, "typeVersion": 2, "parameters": {
                "mode": "runOnceForEachItem", "jsCode": "return {name: $('T').item.json.name, legacy: $node['Tag'].json.tag}"}},
        ],
        "connections": {
            "T": {"main": [[{"node": "Tag", "type": "main", "index": 0}]]},
            "Tag": {"main": [[{"node": "Use", "type": "main", "index": 0}]]},
            "Use": {"main": [[{"node": "Each", "type": "main", "index": 0}]]},
        },
        "staticData": {"global": {"runs": 4}},
    }  # fmt: skip
    rec = await run_workflow(wf, input=ITEMS)
    assert rec.status.value == "succeeded", rec.error
    use = [it["json"] for it in rec.runs_of("Use")[0].output[0]]
    assert use == [
        {"tag": "t1", "n": 1, "first": "ada", "count": 2, "runs": 5, "executed": False},
        {"tag": "t2", "n": 2, "first": "ada", "count": 2, "runs": 5, "executed": False},
    ]
    assert [it["json"] for it in rec.runs_of("Each")[0].output[0]] == [
        {"name": "ada", "legacy": "t1"},
        {"name": "bob", "legacy": "t2"},
    ]


async def test_static_data_is_written_back() -> None:
    from relayflow.workflow.parse import parse_workflow

    wf = parse_workflow({
        "nodes": [
            {"name": "T", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {"name": "C", "type": CODE, "typeVersion": 2, "parameters": {
                "jsCode": "const s = $getWorkflowStaticData('node'); s.seen = (s.seen || 0) + 1; return [{seen: s.seen}]"}},
        ],
        "connections": {"T": {"main": [[{"node": "C", "type": "main", "index": 0}]]}},
        "staticData": {},
    })  # fmt: skip
    eng = make_engine()
    for expected in (1, 2):
        rec = await eng.run(wf)
        assert rec.output_json() == [{"seen": expected}]
    assert wf.staticData == {"node:C": {"seen": 2}}


async def test_errors_name_the_line_and_item() -> None:
    with pytest.raises(NodeRunFailed) as info:
        await code("const a = 1;\nnull.boom;\nreturn []")
    assert (
        info.value.error["message"] == "TypeError: Cannot read properties of null (reading 'boom') [line 2]"
    )
    with pytest.raises(NodeRunFailed) as info:
        await run_node(CODE, {"mode": "runOnceForEachItem", "jsCode": "if ($json.n === 2) throw new Error('bad n');\nreturn $json"},
                       ITEMS, type_version=2)  # fmt: skip
    assert info.value.error["message"] == "bad n [line 1, for item 1]"
    assert info.value.error["itemIndex"] == 1


@pytest.mark.parametrize(
    ("js", "message"),
    [
        ("return [1, 2]", "Code doesn't return items properly"),
        ("return 'text'", "Code doesn't return items properly"),
        ("return [{json: 5}]", "'json' property must be an object"),
        ("return (", "SyntaxError"),
        ("return require('fs')", "require is not defined"),
        ("return process.env", "process is not defined"),
    ],
)
async def test_bad_code_is_a_clear_node_error(js: str, message: str) -> None:
    with pytest.raises(NodeRunFailed, match=message.replace("(", r"\(")):
        await code(js)


async def test_continue_on_fail_in_each_item_mode_keeps_going() -> None:
    js = "if ($itemIndex === 1) throw new Error('nope'); return {ok: $itemIndex}"
    items = [{"n": i} for i in range(4)]
    out = await run_node(CODE, {"mode": "runOnceForEachItem", "jsCode": js}, items, type_version=2,
                         node_fields={"onError": "continueRegularOutput"})  # fmt: skip
    assert output_json(out) == [{"ok": 0}, {"error": "nope [line 1, for item 1]"}, {"ok": 2}, {"ok": 3}]


async def test_python_language_goes_to_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    # the Python sandbox is tested in tests/integration/test_python_code*.py; here: it is used
    monkeypatch.delenv("RELAYFLOW_CODE_UNSAFE", raising=False)
    monkeypatch.setenv("RELAYFLOW_CODE_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(NodeRunFailed, match="the Python sandbox cannot start"):
        await run_node(
            CODE, {"language": "python", "pythonCode": "return _input.all()"}, ITEMS, type_version=2
        )


async def test_time_limit_and_the_event_loop_stays_free() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        with pytest.raises(NodeRunFailed, match="timed out"):
            await run_node(
                CODE, {"jsCode": "while (true) {}"}, ITEMS, type_version=2, node_fields={"timeout": 0.3}
            )
    finally:
        task.cancel()
    assert time.monotonic() - started < 5
    assert ticks >= 10  # the loop kept running while the code spun
    assert await code("return [{after: true}]") == [{"after": True}]


async def test_default_code_when_the_export_omits_it() -> None:
    out = await run_node(CODE, {}, ITEMS, type_version=2)
    assert output_json(out) == [{**i, "myNewField": 1} for i in ITEMS]


async def test_function_node() -> None:
    js = "for (item of items) { item.json.total = item.json.n * 2 }\nreturn items;"
    out = await run_node("n8n-nodes-base.function", {"functionCode": js}, ITEMS)
    assert output_json(out) == [{"name": "ada", "n": 1, "total": 2}, {"name": "bob", "n": 2, "total": 4}]


async def test_function_item_node() -> None:
    out = await run_node(
        "n8n-nodes-base.functionItem", {"functionCode": "item.upper = item.name.toUpperCase();"}, ITEMS
    )
    assert output_json(out) == [
        {"name": "ada", "n": 1, "upper": "ADA"},
        {"name": "bob", "n": 2, "upper": "BOB"},
    ]
    out = await run_node(
        "n8n-nodes-base.functionItem", {"functionCode": "item = {only: item.n}; return item;"}, ITEMS
    )
    assert output_json(out) == [{"only": 1}, {"only": 2}]


async def test_relayflow_type_names() -> None:
    out = await run_node(
        "relayflow.code", {"jsCode": "return [{v: DateTime.fromISO('2024-01-02').year}]"}, ITEMS
    )
    assert output_json(out) == [{"v": 2024}]
    out = await run_node("relayflow.function", {"functionCode": "return items.slice(1)"}, ITEMS)
    assert output_json(out) == [ITEMS[1]]


async def test_code_may_declare_its_own_items_and_item() -> None:
    js = "const items = $input.all();\nlet item = items[1];\nreturn [{n: items.length, second: item.json.name}]"
    assert await code(js) == [{"n": 2, "second": "bob"}]
    with pytest.raises(NodeRunFailed, match=r"\[line 3\]"):
        await code("const a = await Promise.resolve(1);\n\nthrow new TypeError('late ' + a)")


async def test_a_cancelled_run_is_stopped_and_the_engine_stays_usable() -> None:
    engine = V8ExpressionEngine()
    scope = ExpressionScope(node="Code", items=[{"json": {"n": 1}}])
    try:
        task = asyncio.create_task(
            run_js(engine, scope, "while (true) {}", mode="all", kind="code", timeout_s=30)
        )
        await asyncio.sleep(0.05)  # the run is in V8, its result awaited on the loop
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1
        done = await run_js(
            engine, scope, "return [{json: {ok: true}}]", mode="all", kind="code", timeout_s=5
        )
        assert done.ok and done.result == [{"json": {"ok": True}}]
    finally:
        engine.close()
