"""The worker's side of the Python Code node, in this process (no sandbox): compiling the code as
a function body, error locations, the attribute-access dicts, the output cap, the import policy."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.sandbox.worker.api import (
    FILENAME,
    Capture,
    ImportPolicy,
    Input,
    JsonDict,
    OutputLimitExceeded,
    compile_code,
    describe_error,
    dumps,
    wrap,
)


def call(source: str, **names: Any) -> Any:
    scope: dict[str, Any] = dict(names)
    exec(compile_code(source), scope)
    return scope["__n8n_code__"]()


def error_of(source: str) -> dict[str, Any]:
    try:
        call(source)
    except Exception as exc:
        return describe_error(exc)
    raise AssertionError("the code did not fail")


def test_code_is_a_function_body_with_top_level_return() -> None:
    assert call("x = 2\nreturn x * 21") == 42
    assert call("") is None
    assert call("def f(v):\n    return v + 1\nreturn f(1)") == 2


def test_error_names_type_message_and_the_line_in_the_code() -> None:
    assert error_of("a = 1\n\nb = a / 0") == {
        "type": "ZeroDivisionError",
        "message": "division by zero",
        "line": 3,
    }
    # the deepest line of the code itself, when the failure is in a function it defined
    err = error_of("def f():\n    return {}['k']\n\nf()")
    assert (err["type"], err["line"]) == ("KeyError", 2)


def test_syntax_error_line() -> None:
    with pytest.raises(SyntaxError) as info:
        compile_code("x = 1\nif x\n    pass")
    assert info.value.filename == FILENAME
    assert describe_error(info.value)["line"] == 2


def test_top_level_await_makes_a_coroutine() -> None:
    scope: dict[str, Any] = {}
    exec(compile_code("import asyncio\nawait asyncio.sleep(0)\nreturn 5"), scope)
    coro = scope["__n8n_code__"]()
    import asyncio

    assert asyncio.run(coro) == 5
    # await inside a nested async function does not make the body async
    assert call("async def f():\n    await g()\nreturn 1") == 1


def test_json_dict_reads_and_writes_keys_as_attributes() -> None:
    item = wrap({"json": {"name": "ada", "tags": [{"t": 1}], "n": None}})
    assert isinstance(item, JsonDict)
    assert item.json.name == "ada" and item["json"]["name"] == "ada"
    assert item.json.tags[0].t == 1
    assert item.json.tags.to_py() == [{"t": 1}] and type(item.json.tags.to_py()[0]) is dict
    item.json.extra = 5
    assert item["json"]["extra"] == 5
    del item.json.extra
    assert "extra" not in item.json
    with pytest.raises(AttributeError, match="no key 'missing'"):
        _ = item.json.missing
    assert dumps(item) == b'{"json":{"name":"ada","tags":[{"t":1}],"n":null}}'


def test_input_helpers_and_item_only_in_each_mode() -> None:
    items = wrap([{"json": {"n": 1}}, {"json": {"n": 2}}])
    inp = Input(items, each=False)
    assert (inp.first().json.n, inp.last().json.n, len(inp.all())) == (1, 2, 2)
    with pytest.raises(RuntimeError, match="once for each item"):
        _ = inp.item
    assert Input([], each=False).first() is None


def test_dumps_of_values_json_lacks() -> None:
    from decimal import Decimal

    assert dumps({"s": {1}, "d": Decimal("1.5"), 1: "int key"}) == b'{"s":[1],"d":1.5,"1":"int key"}'
    with pytest.raises(TypeError, match="object"):
        dumps({"o": object()})


def test_capture_stops_the_code_past_the_cap() -> None:
    cap = Capture(10)
    cap.write("12345\n")
    with pytest.raises(OutputLimitExceeded, match="RELAYFLOW_CODE_MAX_OUTPUT_BYTES"):
        cap.write("678901")
    assert cap.exceeded
    with pytest.raises(OutputLimitExceeded):
        cap.write("x")
    assert cap.lines() == ["12345"]


def test_import_policy_allows_the_standard_library_and_the_listed_modules() -> None:
    policy = ImportPolicy(["yaml"])
    policy.check("json")
    policy.check("urllib.parse")
    policy.check("yaml.loader")
    with pytest.raises(ImportError, match=r"'requests' is not allowed.*RELAYFLOW_CODE_ALLOW_MODULES"):
        policy.check("requests.adapters")
