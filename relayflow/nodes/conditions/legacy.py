"""The legacy conditions of IF v1, Filter v1 and Switch v1/v2: comparisons grouped by data type.

    {"boolean": [{"value1": true, "operation": "equal", "value2": true}],
     "number": [{"value1": "={{ $json.n }}", "operation": "larger", "value2": 5}],
     "string": [...], "dateTime": [...]}

Values are compared the lenient way those versions did: strings are compared as text, numbers
as numbers (numeric strings count), dates as instants. No type errors are raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from relayflow.nodes.conditions.coerce import js_string, to_datetime, to_number
from relayflow.nodes.conditions.regex import js_regex

DataType = Literal["boolean", "number", "string", "dateTime"]

# the operation n8n uses when a rule leaves it out
DEFAULT_OPERATION: dict[str, str] = {
    "boolean": "equal",
    "number": "smaller",
    "string": "equal",
    "dateTime": "after",
}

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "equal": lambda a, b: a == b,
    "notEqual": lambda a, b: a != b,
    "smaller": lambda a, b: a < b,
    "smallerEqual": lambda a, b: a <= b,
    "larger": lambda a, b: a > b,
    "largerEqual": lambda a, b: a >= b,
    "before": lambda a, b: a < b,
    "after": lambda a, b: a > b,
}
_TEXT: dict[str, Callable[[str, str], bool]] = {
    "equal": lambda a, b: a == b,
    "notEqual": lambda a, b: a != b,
    "contains": lambda a, b: b in a,
    "notContains": lambda a, b: b not in a,
    "startsWith": lambda a, b: a.startswith(b),
    "notStartsWith": lambda a, b: not a.startswith(b),
    "endsWith": lambda a, b: a.endswith(b),
    "notEndsWith": lambda a, b: not a.endswith(b),
    "regex": lambda a, b: js_regex(b).search(a) is not None,
    "notRegex": lambda a, b: js_regex(b).search(a) is None,
}
OPERATIONS: dict[str, frozenset[str]] = {
    "boolean": frozenset({"equal", "notEqual"}),
    "number": frozenset(
        {"equal", "notEqual", "smaller", "smallerEqual", "larger", "largerEqual", "isEmpty", "isNotEmpty"}
    ),
    "string": frozenset({*_TEXT, "isEmpty", "isNotEmpty"}),
    "dateTime": frozenset({"after", "before", "equal", "notEqual", "isEmpty", "isNotEmpty"}),
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def _comparable(data_type: str, value: Any) -> Any:
    if data_type == "number":
        return to_number(value)
    if data_type == "dateTime":
        return to_datetime(value, loose=True)
    return value


def legacy_compare(data_type: str, operation: str | None, value1: Any, value2: Any) -> bool:
    """Compare two values the way the legacy IF/Switch rules of ``data_type`` do."""
    op = operation or DEFAULT_OPERATION[data_type]
    if op == "isEmpty":
        return _empty(value1)
    if op == "isNotEmpty":
        return not _empty(value1)
    if data_type == "string":
        return _TEXT[op](js_string(value1), js_string(value2))
    if data_type == "boolean":
        return _ORDER[op](value1, value2)
    left, right = _comparable(data_type, value1), _comparable(data_type, value2)
    if left is None or right is None:
        return op == "notEqual" and left is not right
    return _ORDER[op](left, right)


class LegacyRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    value1: Any = None
    operation: str | None = None
    value2: Any = None


class LegacyConditions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    boolean: list[LegacyRule] = []
    number: list[LegacyRule] = []
    string: list[LegacyRule] = []
    dateTime: list[LegacyRule] = []
    # n8n's combineOperation (IF v1) / combineConditions (Filter v1)
    combine: Literal["all", "any"] = "all"

    @model_validator(mode="after")
    def _known(self) -> LegacyConditions:
        for data_type, rules in self.groups():
            for rule in rules:
                if rule.operation is not None and rule.operation not in OPERATIONS[data_type]:
                    raise ValueError(f"unknown {data_type} operation {rule.operation!r}")
        return self

    def groups(self) -> list[tuple[str, list[LegacyRule]]]:
        # n8n checks the groups in this order
        return [
            ("boolean", self.boolean),
            ("dateTime", self.dateTime),
            ("number", self.number),
            ("string", self.string),
        ]


def evaluate_legacy(conditions: LegacyConditions) -> bool:
    """All (or any) of the rules hold; no rules at all counts as "all hold"."""
    results = (
        legacy_compare(data_type, rule.operation, rule.value1, rule.value2)
        for data_type, rules in conditions.groups()
        for rule in rules
    )
    if conditions.combine == "any":
        rules_count = sum(len(r) for _, r in conditions.groups())
        return rules_count == 0 or any(results)
    return all(results)


_DEFAULT_VALUE: dict[str, Any] = {"boolean": False, "number": 0, "string": "", "dateTime": ""}


def translate_legacy(conditions: Any, combine: Any = None) -> dict[str, Any]:
    """n8n's legacy ``conditions`` (+ ``combineOperation``/``combineConditions``) as our model's data.

    Rules get n8n's default values (``false``, ``0``, ``""``) where the export leaves them out.
    """
    out: dict[str, Any] = {}
    source = conditions if isinstance(conditions, dict) else {}
    for data_type, default in _DEFAULT_VALUE.items():
        rules = source.get(data_type) or []
        if isinstance(rules, list):
            out[data_type] = [
                {"value1": default, "value2": default, **rule} for rule in rules if isinstance(rule, dict)
            ]
    mode = str(combine or "all").lower()
    out["combine"] = "any" if mode in ("any", "or") else "all"
    return out
