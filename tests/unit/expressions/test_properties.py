"""Property tests: the fast path agrees with V8, random input never crashes the host, and random
reflection chains never reach the host."""

from __future__ import annotations

import math
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayflow.errors import ExpressionError
from relayflow.expressions import V8ExpressionEngine
from relayflow.expressions.fastops import Frame
from relayflow.expressions.jsvalue import Fallback
from tests.unit.expressions.conftest import one, scope

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
numeric_text = st.sampled_from(["", " ", "0", "-0", "12", " 3.5 ", "1e3", "0x1A", "0b11", "Infinity", "-Infinity",
                                "1_000", "abc", "12px", ".5", "5.", "+7", "00012"])  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text, numeric_text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = ["a", "b", "c", "s", "n", "list", "obj", "a b"]
item_json = st.fixed_dictionaries({k: values for k in KEYS})


def js_literal(v: Any) -> str:
    if isinstance(v, float):
        return repr(v) if v >= 0 else f"({v!r})"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v) if v >= 0 else f"({v})"
    return orjson.dumps(v).decode()


leaf = st.one_of(
    scalars.map(js_literal),
    st.sampled_from(KEYS).map(lambda k: f"$json[{orjson.dumps(k).decode()}]"),
    st.sampled_from(
        [
            "$json.a",
            "$json.list.length",
            "$json.s.length",
            "$json.obj?.x",
            "$json.obj.x",
            "$json.obj?.y?.z",
            "$input.item.json.n",
            "$json['list'][1]",
            "$json.list[$json.n]",
            "$position",
            "$json.list[0]",
            "$json.missing",
            "$itemIndex",
            "$runIndex",
            "undefined",
            "NaN",
            "Infinity",
        ]
    ),
)
UNARY = ["-", "+", "!", "typeof "]
BINARY = ["+", "-", "*", "/", "%", "==", "!=", "===", "!==", "<", "<=", ">", ">=", "&&", "||"]


def expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(UNARY), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]}) ? ({t[1]}) : ({t[2]})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]}) ?? ({t[1]})"),
        ),
        max_leaves=5,
    )


def same(a: Any, b: Any) -> bool:
    """Equal as JavaScript values (numbers compare as doubles, NaN equals NaN)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        x, y = float(a), float(b)
        return x == y or (math.isnan(x) and math.isnan(y))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@SETTINGS
@given(expr=expressions(), data=item_json, mixed=st.booleans())
async def test_fast_path_agrees_with_v8(engine: V8ExpressionEngine, v8_only: V8ExpressionEngine, expr: str,
                                        data: dict[str, Any], mixed: bool) -> None:  # fmt: skip
    template = f"v={{{{ {expr} }}}}!" if mixed else f"{{{{ {expr} }}}}"
    s = scope([data], run_index=3)
    compiled = engine.compile(template)
    assert compiled.fast is not None, template
    assert compiled.batch is not None, template
    try:
        fast: Any = compiled.fast(Frame(s, s.items), s.items[0], 0)
    except Fallback:
        fast = Fallback
    out: list[Any] = []
    missing: list[int] = []
    compiled.batch(Frame(s, s.items), [0], s.items, out, missing)
    generated: Any = Fallback if missing else out[0]
    try:
        slow: Any = await one(v8_only, template, s)
    except ExpressionError:
        assert fast is Fallback, f"{template}: V8 failed but the fast path gave {fast!r}"
        assert generated is Fallback, f"{template}: V8 failed but the generated code gave {generated!r}"
        return
    if fast is not Fallback:
        assert same(fast, slow), f"{template} on {data}: fast {fast!r} != V8 {slow!r}"
    if generated is not Fallback:
        assert same(generated, slow), f"{template} on {data}: generated {generated!r} != V8 {slow!r}"
    # whichever path answers, the engine's answer is V8's
    assert same(await one(engine, template, s), slow)


SOUP = ["{{", "}}", "$json", ".", "a", "(", ")", "[", "]", "'x'", '"', "`", "${", "}", "{", "+", "-", "*", "/",
        "=>", "1", "0.5", "null", "undefined", "new", "Date", "this", "constructor", ";", ",", "?.", "??", "!",
        "$input", "$('A')", "item", "json", "first()", "$now", "toISO()", "\\", "\n", "=", " ", "Math.max",
        "isEmpty()", "/re/g", "$node", "__proto__", "$env"]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(SOUP), max_size=14))
async def test_random_input_never_crashes_the_host(engine: V8ExpressionEngine, parts: list[str]) -> None:
    template = "".join(parts)
    try:
        compiled = engine.compile(template)
        out = await engine.evaluate(compiled, scope([{"a": 1}]), [0])
    except ExpressionError:
        return
    assert len(out) == 1
    orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)  # plain data only


BASES = ["this", "globalThis", "({})", "[]", "''", "(() => 0)", "$json", "Function.prototype", "$input", "DateTime",
         "Object", "Reflect", "(async () => 0)", "(function* () {})", "Symbol", "Proxy", "Error"]  # fmt: skip
STEPS = [".constructor", ".__proto__", "['constructor']", ".prototype", ".caller", ".arguments",
         ".call", ".bind(null)", "('return this')", "('return typeof process')", "()", ".getPrototypeOf",
         ".ownKeys", "(globalThis)", ".process", ".env"]  # fmt: skip
SECRET = os.environ.get("PATH", "/usr/bin")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), steps=st.lists(st.sampled_from(STEPS), max_size=6))
async def test_reflection_never_reaches_the_host(
    engine: V8ExpressionEngine, base: str, steps: list[str]
) -> None:
    template = "{{ " + base + "".join(steps) + " }}"
    try:
        out = await engine.evaluate(engine.compile(template), scope([{"a": 1}]), [0])
    except ExpressionError:
        out = None
    assert SECRET not in orjson.dumps(out).decode()
    host = await one(engine, "{{ [typeof process, typeof require, typeof fetch, ({}).polluted] }}")
    assert host == ["undefined", "undefined", "undefined", None]
