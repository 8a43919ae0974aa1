"""n8n-style dot paths: get / set / delete without touching shared containers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relayflow.nodes.fieldpath import (
    MISSING,
    delete_path,
    field_list,
    get_path,
    getter,
    omit,
    parse_path,
    pick,
    set_path,
)


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("a", ("a",)),
        ("a.b.c", ("a", "b", "c")),
        ("items[0].mostReplayed.markers", ("items", 0, "mostReplayed", "markers")),
        ("methodResponses[0][1].list", ("methodResponses", 0, 1, "list")),
        ('a["x.y"].z', ("a", "x.y", "z")),
        ("a['q']", ("a", "q")),
    ],
)
def test_parse_path(path: str, parts: tuple[object, ...]) -> None:
    assert parse_path(path) == parts


DATA: dict[str, Any] = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x.y": "literal", "n": None}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b[1].c", 2),
        ("a.b.0.c", 1),
        ("x.y", "literal"),  # a key that contains a dot wins, as in lodash
        ("n", None),
        ("a.missing", MISSING),
        ("a.b[5].c", MISSING),
        ("a.b.c", MISSING),
    ],
)
def test_get_path(path: str, expected: object) -> None:
    assert get_path(DATA, path) == expected
    assert getter(path)(DATA) == expected


def test_get_without_dot_notation_reads_one_key() -> None:
    assert get_path(DATA, "a.b[1].c", dot=False) is MISSING
    assert get_path(DATA, "x.y", dot=False) == "literal"
    assert getter("a", dot=False)(DATA) == DATA["a"]


def test_set_path_copies_shared_containers() -> None:
    original = copy.deepcopy(DATA)
    out: dict[str, Any] = dict(DATA)
    set_path(out, "a.b[0].c", 10)
    set_path(out, "a.new.deep", True)
    set_path(out, "list[2]", "z")
    assert out["a"]["b"][0]["c"] == 10
    assert out["a"]["new"] == {"deep": True}
    assert out["list"] == [None, None, "z"]
    assert original == DATA


def test_set_path_without_dot_notation_sets_literal_key() -> None:
    out: dict[str, object] = {}
    set_path(out, "a.b", 1, dot=False)
    assert out == {"a.b": 1}


def test_delete_path_copies_and_ignores_missing() -> None:
    original = copy.deepcopy(DATA)
    out = dict(DATA)
    delete_path(out, "a.b[1].c")
    delete_path(out, "nope.deeper")
    delete_path(out, "x.y")
    assert out == {"a": {"b": [{"c": 1}, {}]}, "n": None}
    assert original == DATA


def test_pick_and_omit() -> None:
    json = {"a": {"b": 1, "c": 2}, "d": 3}
    assert pick(json, ["a.b", "d", "zz"]) == {"a": {"b": 1}, "d": 3}
    assert omit(json, ["a.c"]) == {"a": {"b": 1}, "d": 3}
    assert json == {"a": {"b": 1, "c": 2}, "d": 3}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a, b,,c ", ["a", "b", "c"]),
        (["a", "b, c"], ["a", "b", "c"]),
        ({"fields": [{"fieldName": "x"}, {"fieldName": "y"}]}, ["x", "y"]),
        (None, []),
        ("", []),
    ],
)
def test_field_list(value: object, expected: list[str]) -> None:
    assert field_list(value) == expected
