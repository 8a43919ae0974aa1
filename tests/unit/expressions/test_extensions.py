"""n8n's data transformation functions, hashing, base64 and $jmespath."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jmespath
import pytest

from relayflow.errors import ExpressionError
from relayflow.expressions import V8ExpressionEngine
from relayflow.expressions.template import EXTENSION_NAMES
from tests.unit.expressions.conftest import one, scope


async def test_python_and_javascript_agree_on_the_extension_names(engine: V8ExpressionEngine) -> None:
    names = await one(engine, "{{ $json.n }}", scope([{"n": 1}]))  # warm a context
    assert names == 1
    ctx = engine.pool.acquire()
    try:
        js_names = ctx._mr.eval("__rf.EXTENSION_NAMES.join(',')")
    finally:
        engine.pool.release(ctx)
    assert set(str(js_names).split(",")) == set(EXTENSION_NAMES)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ ''.isEmpty() }}/{{ 'x'.isNotEmpty() }}", "true/true"),
        ("{{ '1,234.5'.toNumber() }}", 1234.5),
        ("{{ '42abc'.toInt() }}", 42),
        ("{{ ' 3.5 '.toFloat() }}", 3.5),
        ("{{ 'no'.toBoolean() }}/{{ 'yes'.toBoolean() }}", "false/true"),
        ("{{ 'visit https://n8n.io/docs?x=1 now'.extractUrl() }}", "https://n8n.io/docs?x=1"),
        ("{{ 'https://www.Example.com/a/b'.extractDomain() }}", "www.example.com"),
        ("{{ 'mail me: ada@example.org!'.extractEmail() }}", "ada@example.org"),
        ("{{ 'ada@example.org'.isEmail() }}/{{ 'nope@'.isEmail() }}", "true/false"),
        ("{{ 'https://a.io/x'.isUrl() }}/{{ 'a.io'.isDomain() }}/{{ '12'.isNumeric() }}", "true/true/true"),
        ("{{ '<p>Hi <b>there</b></p>'.removeTags() }}", "Hi there"),
        ("{{ 'hello big world'.toTitleCase() }}", "Hello Big World"),
        ("{{ 'hello. big world'.toSentenceCase() }}", "Hello. Big world"),
        ("{{ 'Hello Big-World'.toSnakeCase() }}", "hello_big_world"),
        ("{{ 'a b&c'.urlEncode() }}/{{ 'a%20b'.urlDecode() }}", "a%20b%26c/a b"),
        ("{{ '{\"a\":1}'.parseJson().a }}", 1),
        ("{{ 'x'.quote() }}", '"x"'),
        ("{{ 'Crème brûlée'.replaceSpecialChars() }}", "Creme brulee"),
        ("{{ [1, 2, 3].first() + [1, 2, 3].last() }}", 4),
        ("{{ [1, 2, 3, 4].sum() }}/{{ [1, 2, 3, 4].average() }}", "10/2.5"),
        ("{{ [3, 1, 2].max() }}/{{ [3, 1, 2].min() }}", "3/1"),
        ("{{ [1, 1, 2, null, ''].unique() }}", [1, 2, None, ""]),
        ("{{ [1, null, '', 0, {}].compact() }}", [1, 0]),
        ("{{ [1, 2, 3, 4, 5].chunk(2) }}", [[1, 2], [3, 4], [5]]),
        ("{{ [{a: 1, b: 2}, {a: 3}].pluck('a') }}", [1, 3]),
        (
            "{{ [1, 2, 3].difference([2]) }}/{{ [1, 2].intersection([2, 3]) }}/{{ [1].union([1, 2]) }}",
            "[1,3]/[2]/[1,2]",
        ),
        ("{{ [].isEmpty() }}/{{ [1].isNotEmpty() }}", "true/true"),
        ("{{ (2.567).round(2) }}/{{ (2.5).floor() }}/{{ (2.1).ceil() }}/{{ (-3).abs() }}", "2.57/2/3/3"),
        ("{{ (4).isEven() }}/{{ (3).isOdd() }}", "true/true"),
        ("{{ (1234.5).format('en-US') }}", "1,234.5"),
        ("{{ ({}).isEmpty() }}/{{ ({a: 1}).hasField('a') }}", "true/true"),
        ("{{ ({a: 1, b: 2}).removeField('a') }}", {"b": 2}),
        ("{{ ({a: 1}).merge({a: 2, b: 3}) }}", {"a": 1, "b": 3}),
        ("{{ ({a: 1, b: 2}).keys() }}/{{ ({a: 1, b: 2}).values() }}", '["a","b"]/[1,2]'),
        ("{{ ({a: 'x y', b: 1}).urlEncode() }}", "a=x%20y&b=1"),
        ("{{ ({a: null, b: 1}).compact() }}", {"b": 1}),
        ("{{ ({a: 1}).toJsonString() }}", '{"a":1}'),
        ("{{ Math.max(1, 5) }}/{{ Object.keys({q: 1}) }}", '5/["q"]'),
        ("{{ 'abc'.includes('b') }}", True),
    ],
)
async def test_extension_methods(engine: V8ExpressionEngine, template: str, expected: Any) -> None:
    assert await one(engine, template) == expected


async def test_extension_names_stay_plain_properties(engine: V8ExpressionEngine) -> None:
    # as in n8n, a property read is not an extension call
    assert await one(engine, "{{ $json.first }}", scope([{"x": 1}])) is None
    assert await one(engine, "{{ $json.first }}", scope([{"first": "own"}])) == "own"
    assert await one(engine, "{{ Object.keys($json) }}", scope([{"a": 1}])) == ["a"]
    assert await one(
        engine, "{{ (() => { const r = []; for (const k in {a: 1}) r.push(k); return r })() }}"
    ) == ["a"]


async def test_unknown_extension_use_is_an_error(engine: V8ExpressionEngine) -> None:
    with pytest.raises(ExpressionError, match=r"isEven\(\) is not available on strings"):
        await one(engine, "{{ 'x'.isEven() }}")


@pytest.mark.parametrize("algo", ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("text", ["", "abc", "héllo wörld 🌍", "x" * 200])
async def test_hash_matches_hashlib(engine: V8ExpressionEngine, algo: str, text: str) -> None:
    got = await one(engine, f"{{{{ $json.t.hash('{algo}') }}}}", scope([{"t": text}]))
    assert got == hashlib.new(algo, text.encode()).hexdigest()


@pytest.mark.parametrize("text", ["", "a", "ab", "abc", "héllo 🌍"])
async def test_base64_round_trip(engine: V8ExpressionEngine, text: str) -> None:
    encoded = await one(engine, "{{ $json.t.base64Encode() }}", scope([{"t": text}]))
    assert encoded == base64.b64encode(text.encode()).decode()
    assert await one(engine, "{{ $json.t.base64Encode().base64Decode() }}", scope([{"t": text}])) == text


DOC = {
    "people": [
        {"name": "ada", "age": 36, "tags": ["x", "y"]},
        {"name": "bob", "age": 7, "tags": ["z"]},
        {"name": "cy", "age": 51, "tags": []},
    ],
    "meta": {"a": {"v": 1}, "b": {"v": 2}},
    "n": [[1, 2], [3, [4]]],
}


@pytest.mark.parametrize(
    "path",
    [
        "people[0].name",
        "people[-1].age",
        "people[*].name",
        "people[?age > `30`].name",
        "people[?name == 'bob'].age | [0]",
        "people[1:].name",
        "people[::-1].name",
        "meta.*.v",
        "n[]",
        "people[*].tags[]",
        "people[].{n: name, a: age}",
        "people[*].[name, age]",
        "length(people)",
        "max_by(people, &age).name",
        "sort_by(people, &age)[*].name",
        "sort(people[*].name)",
        "contains(people[*].name, 'cy')",
        "people[?age > `10` && age < `40`].name",
        "people[?!contains(tags, 'x')].name",
        "join(', ', people[*].name)",
        "sum(people[*].age)",
        "avg(people[*].age)",
        "keys(meta)",
        "not_null(missing, people[0].name)",
        "missing.field",
        "to_string(people[0].age)",
        "type(meta)",
        "map(&age, people)",
        "people[?tags]. name",
    ],
)
async def test_jmespath_matches_the_reference(engine: V8ExpressionEngine, path: str) -> None:
    template = "{{ $jmespath($json, " + repr(path).replace("\\'", "\\'") + ") }}"
    got = await one(engine, template, scope([DOC]))
    assert got == jmespath.search(path, DOC)
