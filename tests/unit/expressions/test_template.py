"""Template splitting, tokenizing, static analysis and the extension-method rewrite (pure Python)."""

from __future__ import annotations

import pytest

from relayflow.expressions.lexer import LexError, tokenize
from relayflow.expressions.template import (
    Code,
    analyse,
    is_single,
    js_function_source,
    rewrite_extensions,
    split_template,
)


def codes(template: str) -> list[str]:
    return [p.source for p in split_template(template) if isinstance(p, Code)]


def test_split_text_and_code() -> None:
    parts = split_template("Hello {{ $json.name }}, you are {{ $json.age }}!")
    assert [p if isinstance(p, str) else ("code", p.source) for p in parts] == [
        "Hello ",
        ("code", "$json.name"),
        ", you are ",
        ("code", "$json.age"),
        "!",
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ {a: {b: 1}} }}", ["{a: {b: 1}}"]),
        ('{{ "}}" + $json.x }}', ['"}}" + $json.x']),
        ("{{ `a${ {x: 1}.x }b` }}", ["`a${ {x: 1}.x }b`"]),
        ("{{ Date.now(); }}", ["Date.now()"]),
        ("{{}}", [""]),
        ("{{ 1 }}{{ 2 }}", ["1", "2"]),
    ],
)
def test_code_extent(template: str, expected: list[str]) -> None:
    assert codes(template) == expected


def test_unclosed_braces_are_text() -> None:
    assert split_template("a {{ b") == ["a {{ b"]
    assert split_template("no code") == ["no code"]


@pytest.mark.parametrize(
    ("template", "single"),
    [
        ("{{ 1 }}", True),
        ("  {{ 1 }}\n", True),
        ("x{{ 1 }}", False),
        ("{{ 1 }}{{ 2 }}", False),
        ("text", False),
    ],
)
def test_single(template: str, single: bool) -> None:
    assert is_single(split_template(template)) is single


def test_tokenizer_handles_strings_regex_templates_comments() -> None:
    toks = tokenize("a.b(/x\\/y[/]/g, 'it\\'s', `t${c + `n${d}`}`) // end\n/* c */ x / 2")
    kinds = [(t.kind, t.value) for t in toks if t.kind in ("regex", "str", "ident")]
    assert ("regex", "/x\\/y[/]/g") in kinds
    assert ("str", "it's") in kinds
    assert ("ident", "d") in kinds  # inside a nested template substitution
    assert toks[-1].kind == "eof"
    # "x / 2" is a division, not a regular expression
    assert [t.value for t in toks[-4:-1]] == ["x", "/", "2"]


def test_tokenizer_errors() -> None:
    with pytest.raises(LexError):
        tokenize("'unterminated")
    with pytest.raises(LexError):
        tokenize("`abc${x")


def needs_of(code: str):  # type: ignore[no-untyped-def]
    return analyse(tokenize(code))


def test_analysis_ships_only_what_is_used() -> None:
    n = needs_of("$now.toISO()")
    assert not (n.json or n.binary or n.all_items or n.paired or n.outputs or n.dynamic_nodes)
    assert needs_of("$json.a + 1").json
    n = needs_of("$input.all().length")
    assert n.all_items and n.json
    n = needs_of("$input.item.json.a")
    assert n.json and not n.all_items
    assert needs_of("$env.X").env and needs_of("$parameter.x").parameter


def test_analysis_of_node_references() -> None:
    n = needs_of("$('Set A').item.json.x + $('B').first().json.y + $node[\"C\"].json.z + $items('D')[0]")
    assert n.paired == {"Set A"}
    assert n.outputs == {"B", "D"}
    assert n.legacy == {"C"}
    assert not n.dynamic_nodes
    assert needs_of("$($json.name).item").dynamic_nodes
    assert needs_of("$('X').itemMatching(0)").paired_all == {"X"}


def test_rewrite_only_touches_extension_calls() -> None:
    code = split_template("{{ $json.s.isEmpty() || $json.first || 'x.isEmpty()' || $json.a?.toInt() }}")[0]
    assert isinstance(code, Code)
    out = rewrite_extensions(code)
    assert "$json.s.__rfx_isEmpty()" in out
    assert "$json.first ||" in out  # a property read stays
    assert "'x.isEmpty()'" in out  # inside a string stays
    assert "$json.a?.__rfx_toInt()" in out


def test_function_source() -> None:
    parts = split_template("a{{ 1 }}b")
    src = js_function_source(parts, is_single(parts))
    assert src.startswith("return __rf_join([") and '"a"' in src and '"b"' in src
    assert js_function_source(split_template("{{ $json.x // comment }}"), True).count("\n") >= 2
