"""n8n's "filter" conditions (IF v2, Filter v2, Switch v3): typed operators combined by and/or.

The shape is n8n's own, so it keeps n8n's field names::

    {"options": {"caseSensitive": true, "typeValidation": "strict"},
     "conditions": [{"id": "...", "leftValue": "={{ $json.age }}", "rightValue": 18,
                     "operator": {"type": "number", "operation": "gte"}}],
     "combinator": "and"}
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from relayflow.nodes.conditions.coerce import js_string, validate
from relayflow.nodes.conditions.regex import js_regex

Compare = Callable[[Any, Any, bool], bool]


def _lower(value: Any, case_sensitive: bool) -> Any:
    return value if case_sensitive or not isinstance(value, str) else value.lower()


def _text(value: Any, case_sensitive: bool) -> str:
    return str(_lower(js_string(value), case_sensitive))


def _str_op(fn: Callable[[str, str], bool]) -> Compare:
    def compare(left: Any, right: Any, cs: bool) -> bool:
        return fn(_text(left, cs), _text(right, cs))

    return compare


def _regex(left: Any, right: Any, cs: bool) -> bool:
    return js_regex(js_string(right), not cs).search(js_string(left)) is not None


def _equals(left: Any, right: Any, cs: bool) -> bool:
    return bool(_lower(left, cs) == _lower(right, cs))


def _ordered(fn: Callable[[Any, Any], bool]) -> Compare:
    def compare(left: Any, right: Any, cs: bool) -> bool:
        return left is not None and right is not None and fn(left, right)

    return compare


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    return isinstance(value, float) and value != value  # NaN


def _array_contains(left: Any, right: Any, cs: bool) -> bool:
    if left is None:
        return False
    needle = _lower(right, cs)
    return any(_lower(element, cs) == needle for element in left)


def _length(fn: Callable[[int, Any], bool]) -> Compare:
    def compare(left: Any, right: Any, cs: bool) -> bool:
        return left is not None and right is not None and fn(len(left), right)

    return compare


_EXISTS: dict[str, Compare] = {
    "exists": lambda left, right, cs: left is not None,
    "notExists": lambda left, right, cs: left is None,
    "empty": lambda left, right, cs: _is_empty(left),
    "notEmpty": lambda left, right, cs: not _is_empty(left),
}
_EQUALITY: dict[str, Compare] = {
    "equals": _equals,
    "notEquals": lambda left, right, cs: not _equals(left, right, cs),
}
_ORDER: dict[str, Compare] = {
    "gt": _ordered(lambda a, b: a > b),
    "lt": _ordered(lambda a, b: a < b),
    "gte": _ordered(lambda a, b: a >= b),
    "lte": _ordered(lambda a, b: a <= b),
}

# (type, operation) -> comparison of the already-validated left and right values
OPERATORS: dict[tuple[str, str], Compare] = {
    **{("string", op): fn for op, fn in {**_EXISTS, **_EQUALITY}.items()},
    ("string", "contains"): _str_op(lambda a, b: b in a),
    ("string", "notContains"): _str_op(lambda a, b: b not in a),
    ("string", "startsWith"): _str_op(lambda a, b: a.startswith(b)),
    ("string", "notStartsWith"): _str_op(lambda a, b: not a.startswith(b)),
    ("string", "endsWith"): _str_op(lambda a, b: a.endswith(b)),
    ("string", "notEndsWith"): _str_op(lambda a, b: not a.endswith(b)),
    ("string", "regex"): _regex,
    ("string", "notRegex"): lambda left, right, cs: not _regex(left, right, cs),
    **{("number", op): fn for op, fn in {**_EXISTS, **_EQUALITY, **_ORDER}.items()},
    **{("dateTime", op): fn for op, fn in {**_EXISTS, **_EQUALITY}.items()},
    ("dateTime", "after"): _ORDER["gt"],
    ("dateTime", "before"): _ORDER["lt"],
    ("dateTime", "afterOrEquals"): _ORDER["gte"],
    ("dateTime", "beforeOrEquals"): _ORDER["lte"],
    **{("boolean", op): fn for op, fn in {**_EXISTS, **_EQUALITY}.items()},
    ("boolean", "true"): lambda left, right, cs: left is True,
    ("boolean", "false"): lambda left, right, cs: left is False,
    **{("array", op): fn for op, fn in _EXISTS.items()},
    ("array", "contains"): _array_contains,
    ("array", "notContains"): lambda left, right, cs: not _array_contains(left, right, cs),
    ("array", "lengthEquals"): _length(lambda n, m: n == m),
    ("array", "lengthNotEquals"): _length(lambda n, m: n != m),
    ("array", "lengthGt"): _length(lambda n, m: n > m),
    ("array", "lengthLt"): _length(lambda n, m: n < m),
    ("array", "lengthGte"): _length(lambda n, m: n >= m),
    ("array", "lengthLte"): _length(lambda n, m: n <= m),
    **{("object", op): fn for op, fn in _EXISTS.items()},
}
# operations that look at the left value only
SINGLE_VALUE = frozenset({"exists", "notExists", "empty", "notEmpty", "true", "false"})
# operations that tell whether a value is there: they accept a value of any type
_UNTYPED = frozenset({"exists", "notExists", "empty", "notEmpty"})
_RIGHT_TYPE = {"contains": "any", "notContains": "any"}


class Operator(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    operation: str
    singleValue: bool | None = None
    rightType: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Operator:
        if (self.type, self.operation) not in OPERATORS:
            raise ValueError(f"unknown condition operator {self.type}.{self.operation}")
        return self

    def right_type(self) -> str:
        if self.type == "array":
            return "number" if self.operation.startswith("length") else _RIGHT_TYPE.get(self.operation, "any")
        return self.rightType or self.type


class Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str | None = None
    leftValue: Any = None
    rightValue: Any = None
    operator: Operator


class ConditionOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    caseSensitive: bool = True
    typeValidation: Literal["strict", "loose"] = "strict"


class FilterConditions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    options: ConditionOptions = ConditionOptions()
    conditions: list[Condition] = []
    combinator: Literal["and", "or"] = "and"


_NUMBER_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "lt": operator.lt, "gte": operator.ge, "lte": operator.le,
    "equals": operator.eq, "notEquals": operator.ne,
}  # fmt: skip


def _value(value: Any) -> Any:
    # an empty field in the editor means "no value" for every type but string
    return None if value == "" else value


def check_condition(
    cond: Condition, number: int, *, loose: bool, case_sensitive: bool, values: tuple[Any, Any] | None = None
) -> bool:
    """Evaluate one condition; ``number`` (1-based) names it in type errors.

    ``values`` replaces the condition's (left, right) values (per-item values of expressions).
    """
    op = cond.operator
    raw_left, raw_right = values if values is not None else (cond.leftValue, cond.rightValue)
    if op.type == "number" and (op.rightType or "number") == "number":
        fast = _NUMBER_COMPARE.get(op.operation)
        tl, tr = type(raw_left), type(raw_right)
        if fast is not None and (tl is int or tl is float) and (tr is int or tr is float):
            return fast(raw_left, raw_right)  # two numbers: what validation and the operator amount to
    where = f"condition {number}"
    left = raw_left if op.type == "string" else _value(raw_left)
    if op.operation not in _UNTYPED:
        left = validate(left, op.type, loose, where)
    right: Any = None
    if op.operation not in SINGLE_VALUE:
        rtype = op.right_type()
        right = raw_right if rtype in ("string", "any") else _value(raw_right)
        right = validate(right, rtype, loose, where)
    return OPERATORS[(op.type, op.operation)](left, right, case_sensitive)


def evaluate_filter(
    conditions: FilterConditions,
    *,
    loose: bool = False,
    ignore_case: bool | None = None,
    values: Sequence[tuple[Any, Any]] | None = None,
) -> bool:
    """True when the conditions hold (all of them for "and", one for "or").

    ``loose`` (a node option) turns on loose type validation on top of the conditions' own
    setting; ``ignore_case``, when given, overrides ``caseSensitive``; ``values``, when given,
    holds each condition's (left, right) values. Raises ``ConditionTypeError`` when a value has
    the wrong type under strict validation.
    """
    opts = conditions.options
    loose = loose or opts.typeValidation == "loose"
    case_sensitive = opts.caseSensitive if ignore_case is None else not ignore_case
    want_all = conditions.combinator == "and"
    for number, cond in enumerate(conditions.conditions, start=1):
        pair = values[number - 1] if values is not None else None
        if check_condition(cond, number, loose=loose, case_sensitive=case_sensitive, values=pair) != want_all:
            return not want_all
    return want_all
