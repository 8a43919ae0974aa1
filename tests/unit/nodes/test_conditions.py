"""n8n's filter conditions (typed operators, strict/loose validation) and the legacy conditions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from relayflow.nodes.conditions import (
    ConditionTypeError,
    FilterConditions,
    LegacyConditions,
    evaluate_filter,
    evaluate_legacy,
    legacy_compare,
    translate_legacy,
)


def cond(type_: str, op: str, left: Any, right: Any = "", **options: Any) -> FilterConditions:
    return FilterConditions.model_validate(
        {
            "options": options,
            "conditions": [
                {"leftValue": left, "rightValue": right, "operator": {"type": type_, "operation": op}}
            ],
        }
    )


def holds(type_: str, op: str, left: Any, right: Any = "", **kw: Any) -> bool:
    return evaluate_filter(cond(type_, op, left, right), **kw)


@pytest.mark.parametrize(
    ("type_", "op", "left", "right", "expected"),
    [
        ("string", "equals", "abc", "abc", True),
        ("string", "equals", "abc", "ABC", False),
        ("string", "notEquals", "abc", "abd", True),
        ("string", "contains", "n8n.io", "io", True),
        ("string", "notContains", "n8n", "9", True),
        ("string", "startsWith", "n8n.io", "n8n", True),
        ("string", "notStartsWith", "n8n.io", "io", True),
        ("string", "endsWith", "file.pdf", ".pdf", True),
        ("string", "notEndsWith", "file.pdf", ".md", True),
        ("string", "regex", "n8n", "/N[1-8]N/i", True),
        ("string", "regex", "abc", "^b", False),
        ("string", "notRegex", "abc", "^b", True),
        ("string", "exists", "", "", True),
        ("string", "exists", None, "", False),
        ("string", "notExists", None, "", True),
        ("string", "empty", "", "", True),
        ("string", "empty", None, "", True),
        ("string", "notEmpty", "x", "", True),
        ("string", "contains", None, "x", False),
        ("number", "equals", 5, 5.0, True),
        ("number", "notEquals", 5, 6, True),
        ("number", "gt", 0.7, 0.6, True),
        ("number", "gt", 0.6, 0.6, False),
        ("number", "gte", 7, 7, True),
        ("number", "lt", 3, 4, True),
        ("number", "lte", 4, 4, True),
        ("number", "gt", None, 4, False),
        ("number", "lt", None, 4, False),
        ("number", "exists", 0, "", True),
        ("number", "notExists", None, 403, True),
        ("number", "empty", None, "", True),
        ("number", "notEmpty", 0, "", True),
        ("dateTime", "after", "2021-03-01T23:00:00.000Z", "2021-02-28T23:00:00.000Z", True),
        ("dateTime", "before", "2021-02-27", "2021-02-28T23:00:00Z", True),
        ("dateTime", "afterOrEquals", "2021-01-01T00:00:00Z", "2021-01-01T01:00:00+01:00", True),
        ("dateTime", "beforeOrEquals", "2021-01-01", "2020-12-31", False),
        ("dateTime", "equals", "2021-01-01T00:00:00Z", "2021-01-01T00:00:00.000+00:00", True),
        ("dateTime", "notEquals", "2021-01-01", "2021-01-02", True),
        ("dateTime", "exists", None, "", False),
        ("boolean", "true", True, "", True),
        ("boolean", "true", False, "", False),
        ("boolean", "false", False, "", True),
        ("boolean", "false", None, "", False),
        ("boolean", "equals", True, True, True),
        ("boolean", "notEquals", True, True, False),
        ("boolean", "exists", False, "", True),
        ("array", "contains", ["a", "b"], "b", True),
        ("array", "contains", [1, 2], 3, False),
        ("array", "notContains", [1, 2], 3, True),
        ("array", "lengthEquals", [1, 2], 2, True),
        ("array", "lengthNotEquals", [1, 2], 2, False),
        ("array", "lengthGt", [1, 2, 3], 2, True),
        ("array", "lengthLt", [1], 2, True),
        ("array", "lengthGte", [1, 2], 2, True),
        ("array", "lengthLte", [1, 2, 3], 2, False),
        ("array", "empty", [], "", True),
        ("array", "empty", None, "", True),
        ("array", "notEmpty", [0], "", True),
        ("array", "exists", [], "", True),
        ("object", "empty", {}, "", True),
        ("object", "notEmpty", {"a": 1}, "", True),
        ("object", "exists", {"a": 1}, "", True),
        ("object", "notExists", None, "", True),
    ],
)
def test_operators_strict(type_: str, op: str, left: Any, right: Any, expected: bool) -> None:
    assert holds(type_, op, left, right) is expected


def test_case_insensitive_string_and_array_operations() -> None:
    assert holds("string", "equals", "AbC", "abc", ignore_case=True)
    assert evaluate_filter(cond("string", "contains", "Hello World", "WORLD", caseSensitive=False))
    assert holds("array", "contains", ["Apple"], "apple", ignore_case=True)
    assert holds("string", "regex", "ABC", "^abc$", ignore_case=True)
    # the node option overrides the conditions' own caseSensitive
    assert not evaluate_filter(cond("string", "equals", "A", "a", caseSensitive=False), ignore_case=False)


@pytest.mark.parametrize(
    ("type_", "op", "left", "right", "wrong"),
    [
        ("number", "gt", "5", 3, "'5' is a string but was expecting a number"),
        ("number", "equals", 5, "5", "'5' is a string but was expecting a number"),
        ("string", "equals", 5, "5", "'5' is a number but was expecting a string"),
        ("boolean", "true", "true", "", "'true' is a string but was expecting a boolean"),
        ("array", "contains", '["a"]', "a", "is a string but was expecting a array"),
        ("object", "empty", "x", "", None),  # emptiness checks accept any type
        ("dateTime", "after", "not a date", "2020-01-01", "but was expecting a date-time"),
        ("dateTime", "after", 1_600_000_000_000, "2020-01-01", "is a number but was expecting a date-time"),
    ],
)
def test_strict_type_validation_errors(type_: str, op: str, left: Any, right: Any, wrong: str | None) -> None:
    if wrong is None:
        assert holds(type_, op, left, right) is False
        return
    with pytest.raises(ConditionTypeError) as info:
        holds(type_, op, left, right)
    assert "Wrong type:" in info.value.message
    assert wrong in info.value.message
    assert "[condition 1]" in info.value.message
    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("type_", "op", "left", "right", "expected"),
    [
        ("number", "gt", "5", 3, True),
        ("number", "equals", "5.5", 5.5, True),
        ("number", "equals", True, 1, True),
        ("string", "equals", 5, "5", True),
        ("string", "equals", {"a": 1}, '{"a":1}', True),
        ("boolean", "true", "true", "", True),
        ("boolean", "false", "0", "", True),
        ("boolean", "equals", 1, "true", True),
        ("array", "contains", '["a", "b"]', "b", True),
        ("array", "lengthGt", "[1, 2]", "1", True),
        ("object", "notEmpty", '{"a": 1}', "", True),
        ("dateTime", "after", "2021-01-02 10:00:00", "2021-01-01", True),
        ("dateTime", "before", 1_600_000_000_000, "2021-01-01", True),
    ],
)
def test_loose_type_validation_converts(type_: str, op: str, left: Any, right: Any, expected: bool) -> None:
    assert holds(type_, op, left, right, loose=True) is expected
    loose_in_options = cond(type_, op, left, right, typeValidation="loose")
    assert evaluate_filter(loose_in_options) is expected


@pytest.mark.parametrize("left", ["abc", "1e999x", [1], {"a": 1}])
def test_loose_number_conversion_still_fails_on_non_numbers(left: Any) -> None:
    with pytest.raises(ConditionTypeError, match="can't be converted to a number"):
        holds("number", "gt", left, 1, loose=True)


def test_empty_right_value_means_no_value_for_non_string_types() -> None:
    assert holds("number", "equals", None, "") is True
    assert holds("string", "equals", "", "") is True


def test_combinators() -> None:
    both = {
        "conditions": [
            {"leftValue": 1, "rightValue": 1, "operator": {"type": "number", "operation": "equals"}},
            {"leftValue": 1, "rightValue": 2, "operator": {"type": "number", "operation": "equals"}},
        ]
    }
    assert evaluate_filter(FilterConditions.model_validate({**both, "combinator": "and"})) is False
    assert evaluate_filter(FilterConditions.model_validate({**both, "combinator": "or"})) is True
    assert evaluate_filter(FilterConditions()) is True


def test_unknown_operator_is_rejected_when_validating() -> None:
    with pytest.raises(ValidationError, match=r"unknown condition operator string\.nope"):
        cond("string", "nope", "a")


def test_invalid_regex_is_a_node_error() -> None:
    with pytest.raises(Exception, match="invalid regular expression"):
        holds("string", "regex", "a", "(")


def test_js_named_groups_are_accepted() -> None:
    assert holds("string", "regex", "id-42", r"/id-(?<num>\d+)/")


# legacy (IF v1, Filter v1, Switch v1/v2) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "op", "v1", "v2", "expected"),
    [
        ("number", None, 5, 10, True),  # default operation: smaller
        ("number", "smallerEqual", 5, 5, True),
        ("number", "equal", 5, 5, True),
        ("number", "notEqual", 6, 5, True),
        ("number", "larger", "6", 5, True),
        ("number", "largerEqual", 6, 5, True),
        ("number", "isEmpty", None, None, True),
        ("number", "isNotEmpty", 0, None, True),
        ("number", "larger", None, 5, False),
        ("string", None, "n8n", "n8n", True),  # default operation: equal
        ("string", "contains", "n8n.io", "io", True),
        ("string", "notContains", "n8n", "9", True),
        ("string", "startsWith", "n8n.io", "n8n", True),
        ("string", "endsWith", "n8n.io", "io", True),
        ("string", "notEqual", "n8n", "n9n", True),
        ("string", "regex", "n8n", "/n[1-8]n/i", True),
        ("string", "notRegex", "n9n", "/n[1-8]n/", True),
        ("string", "isEmpty", "", "", True),
        ("string", "equal", 5, "5", True),
        ("boolean", None, True, True, True),
        ("boolean", "notEqual", True, False, True),
        ("dateTime", None, "2021-03-01T23:00:00.000Z", "2021-02-28T23:00:00.000Z", True),
        ("dateTime", "before", "2021-02-27T23:00:00.000Z", "2021-02-28T23:00:00.000Z", True),
    ],
)
def test_legacy_compare(data_type: str, op: str | None, v1: Any, v2: Any, expected: bool) -> None:
    assert legacy_compare(data_type, op, v1, v2) is expected


def test_legacy_conditions_fill_n8n_defaults_and_combine() -> None:
    # {"value1": true, "operation": "notEqual"}: value2 defaults to false in n8n
    data = translate_legacy({"boolean": [{"value1": True, "operation": "notEqual"}]})
    assert evaluate_legacy(LegacyConditions.model_validate(data)) is True
    mixed = {
        "number": [{"value1": 1, "operation": "larger", "value2": 5}],
        "string": [{"value1": "a", "value2": "a"}],
    }
    assert evaluate_legacy(LegacyConditions.model_validate(translate_legacy(mixed))) is False
    assert evaluate_legacy(LegacyConditions.model_validate(translate_legacy(mixed, "any"))) is True
    assert translate_legacy(mixed, "OR")["combine"] == "any"
    assert evaluate_legacy(LegacyConditions()) is True


def test_legacy_unknown_operation_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown number operation"):
        LegacyConditions.model_validate({"number": [{"value1": 1, "operation": "bigger"}]})
