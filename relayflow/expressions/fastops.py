"""Building blocks of the fast path: the closures it composes, with JavaScript semantics.

``fastpath.py`` parses; this module holds what the parsed expression turns into: constants, item
and node accessors, member chains (dict lookups inlined for ``$json.a.b``), and operators (numbers
on both sides computed inline, everything else through ``jsvalue``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relayflow.engine.expression import ExpressionScope
from relayflow.expressions import jsvalue as jsv
from relayflow.expressions.jsvalue import UNDEFINED, Fallback
from relayflow.expressions.payload import last_output, legacy_item, paired_item


@dataclass
class Frame:
    """What the closures read besides the item: one per batch."""

    scope: ExpressionScope
    items: list[dict[str, Any]]


Ev = Callable[[Frame, dict[str, Any], int], Any]


ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": jsv.add, "-": jsv.sub, "*": jsv.mul, "/": jsv.div, "%": jsv.mod,
    "===": jsv.strict_equals, "==": jsv.loose_equals,
    "!==": lambda a, b: not jsv.strict_equals(a, b), "!=": lambda a, b: not jsv.loose_equals(a, b),
    "<": lambda a, b: jsv.compare(a, b, "<"), "<=": lambda a, b: jsv.compare(a, b, "<="),
    ">": lambda a, b: jsv.compare(a, b, ">"), ">=": lambda a, b: jsv.compare(a, b, ">="),
}  # fmt: skip

_NOT_CONST = object()
_MISSING = object()


def const(v: Any) -> Ev:
    def const(f: Frame, it: dict[str, Any], i: int) -> Any:
        return v

    const.rf_const = v  # type: ignore[attr-defined]
    return const


def _const_of(ev: Ev) -> Any:
    return getattr(ev, "rf_const", _NOT_CONST)


def tag(ev: Ev, *node: Any) -> Ev:
    """Describe what ``ev`` computes, for the code generator (``fastgen``): ``(kind, *operands)``."""
    ev.rf_node = node  # type: ignore[attr-defined]
    return ev


def node_of(ev: Ev) -> tuple[Any, ...] | None:
    """What ``tag`` recorded on ``ev`` (constants and ``$json`` included), or None."""
    c = _const_of(ev)
    if c is not _NOT_CONST:
        return ("const", c)
    if ev is item_json:
        return ("json",)
    node: tuple[Any, ...] | None = getattr(ev, "rf_node", None)
    return node


def item_json(f: Frame, it: dict[str, Any], i: int) -> Any:
    j = it.get("json")
    return j if isinstance(j, dict) else {}


def item_binary(f: Frame, it: dict[str, Any], i: int) -> Any:
    b = it.get("binary")
    if not isinstance(b, dict):
        raise Fallback
    return b


def node_output_item(node: str, pick: int) -> Callable[[Frame, dict[str, Any], int], Any]:
    def get(f: Frame, it: dict[str, Any], i: int) -> Any:
        out = last_output(f.scope, node)
        if not out:
            raise Fallback  # not executed or empty: V8 gives n8n's answer
        return out[pick]

    return get


def paired(node: str) -> Callable[[Frame, dict[str, Any], int], Any]:
    def get(f: Frame, it: dict[str, Any], i: int) -> Any:
        found = paired_item(f.scope, node, i)
        if found is None:
            raise Fallback  # V8 raises n8n's error
        return found

    return get


def legacy_node_item(node: str) -> Callable[[Frame, dict[str, Any], int], Any]:
    def get(f: Frame, it: dict[str, Any], i: int) -> Any:
        found = legacy_item(f.scope, node, i)
        if found is None:
            raise Fallback
        return found

    return get


def combine(op: str, left: Ev, right: Ev) -> Ev:
    return tag(_combine(op, left, right), "binary", op, left, right)


def _combine(op: str, left: Ev, right: Ev) -> Ev:
    if op == "&&":
        return lambda f, it, i: right(f, it, i) if jsv.truthy(v := left(f, it, i)) else v
    if op == "||":
        return lambda f, it, i: v if jsv.truthy(v := left(f, it, i)) else right(f, it, i)
    if op == "??":
        return lambda f, it, i: right(f, it, i) if (v := left(f, it, i)) is None or v is UNDEFINED else v
    fast = _NUMERIC.get(op)
    fn = ARITH[op]
    if fast is None:
        return lambda f, it, i: fn(left(f, it, i), right(f, it, i))

    c = _const_of(right)
    if op in ("+", "-", "*") and type(c) in (int, float) and c != 0:
        return _with_constant(op, left, c, fn)

    def numeric_first(f: Frame, it: dict[str, Any], i: int) -> Any:
        a = left(f, it, i)
        b = right(f, it, i)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            r = fast(a, b)
            if r is not _MISSING:
                return r
        return fn(a, b)

    return numeric_first


_MAX = jsv.MAX_SAFE_INT


def _with_constant(op: str, left: Ev, c: int | float, fn: Callable[[Any, Any], Any]) -> Ev:
    """``x + 1``, ``x * 2``...: the commonest arithmetic, inlined."""
    if op == "+":

        def plus(f: Frame, it: dict[str, Any], i: int) -> Any:
            a = left(f, it, i)
            t = type(a)
            if t is int or t is float:
                r = a + c
                return r if type(r) is float or -_MAX <= r <= _MAX else float(r)
            return fn(a, c)

        return plus
    if op == "-":

        def minus(f: Frame, it: dict[str, Any], i: int) -> Any:
            a = left(f, it, i)
            t = type(a)
            if t is int or t is float:
                r = a - c
                return r if type(r) is float or -_MAX <= r <= _MAX else float(r)
            return fn(a, c)

        return minus

    def times(f: Frame, it: dict[str, Any], i: int) -> Any:
        a = left(f, it, i)
        t = type(a)
        if (t is int or t is float) and a != 0:
            r = a * c
            return r if type(r) is float or -_MAX <= r <= _MAX else float(r)
        return fn(a, c)

    return times


def _safe(r: Any) -> Any:
    if type(r) is int and not -jsv.MAX_SAFE_INT <= r <= jsv.MAX_SAFE_INT:
        return float(r)
    return r


def _num_mul(a: Any, b: Any) -> Any:
    if a == 0 or b == 0:
        return _MISSING  # signed zeros and 0 * Infinity: the general rule
    return _safe(a * b)


# numbers on both sides (the common case): Python's IEEE arithmetic is JavaScript's
_NUMERIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: _safe(a + b),
    "-": lambda a, b: _safe(a - b),
    "*": _num_mul,
    "/": lambda a, b: a / b if b != 0 and abs(a) <= jsv.MAX_SAFE_INT else _MISSING,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "===": lambda a, b: a == b,
    "!==": lambda a, b: a != b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def chain(base: Ev, steps: tuple[tuple[bool, Ev], ...]) -> Ev:
    return tag(_chain(base, steps), "chain", base, steps)


def _chain(base: Ev, steps: tuple[tuple[bool, Ev], ...]) -> Ev:
    keys = tuple(_const_of(k) for _, k in steps)
    if not any(opt for opt, _ in steps) and all(type(k) is str for k in keys):
        return _key_path(base, keys)
    if all(not opt for opt, _ in steps) and len(steps) == 1:
        key0 = steps[0][1]
        return lambda f, it, i: member(base(f, it, i), key0(f, it, i))

    def run(f: Frame, it: dict[str, Any], i: int) -> Any:
        v = base(f, it, i)
        for optional, key in steps:
            if optional and (v is None or v is UNDEFINED):
                return UNDEFINED
            v = member(v, key(f, it, i))
        return v

    return run


def _dict_get(d: dict[str, Any], key: str) -> Any:
    v = d.get(key, _MISSING)
    if v is _MISSING:
        if key in jsv.OBJECT_PROTO_NAMES:
            raise Fallback
        return UNDEFINED
    if type(v) is int and not -jsv.MAX_SAFE_INT <= v <= jsv.MAX_SAFE_INT:
        raise Fallback
    return v


def _key_path(base: Ev, keys: tuple[str, ...]) -> Ev:
    """``x.a.b["c"]``: the hot case, with dict lookups inlined."""
    if len(keys) == 1:
        key = keys[0]
        if base is item_json:

            def json_key(f: Frame, it: dict[str, Any], i: int) -> Any:
                j = it.get("json")
                if type(j) is dict:
                    v = j.get(key, _MISSING)
                    t = type(v)
                    if t is str or t is float or t is bool or (t is int and -_MAX <= v <= _MAX):
                        return v
                    if t is not int and v is not _MISSING:
                        return v
                    return _dict_get(j, key)
                return member({}, key)

            return json_key

        def one_key(f: Frame, it: dict[str, Any], i: int) -> Any:
            obj = base(f, it, i)
            return _dict_get(obj, key) if type(obj) is dict else member(obj, key)

        return one_key

    def path(f: Frame, it: dict[str, Any], i: int) -> Any:
        v = base(f, it, i)
        for key in keys:
            v = _dict_get(v, key) if type(v) is dict else member(v, key)
        return v

    return path


def member(obj: Any, key: Any) -> Any:
    if obj is None or obj is UNDEFINED:
        raise Fallback  # TypeError in JavaScript: V8 words it
    return jsv.member(obj, key)
