"""JavaScript value semantics over JSON-shaped Python values, for the fast path.

Values: ``UNDEFINED``, ``None`` (null), ``bool``, ``int``/``float`` (number), ``str``, ``list``
(array), ``dict`` (object). Where exact JavaScript behaviour would need more than this (object
to primitive conversion in comparisons, unsafe integers, prototype properties...), the helpers
raise ``Fallback`` and the engine evaluates the template in V8 instead.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final


class Fallback(Exception):
    """The fast path cannot give the exact JavaScript result: evaluate in V8."""


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()
MAX_SAFE_INT: Final = 2**53 - 1

# properties every object inherits in JavaScript: a read of these cannot be answered from the dict
OBJECT_PROTO_NAMES: Final = frozenset(
    {"constructor", "__proto__", "toString", "toLocaleString", "valueOf", "hasOwnProperty",
     "isPrototypeOf", "propertyIsEnumerable", "__defineGetter__", "__defineSetter__",
     "__lookupGetter__", "__lookupSetter__"}
)  # fmt: skip

_WS = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CANONICAL_INDEX = re.compile(r"0|[1-9]\d*")
_RADIX_DIGITS = {16: re.compile(r"[0-9a-fA-F]+"), 2: re.compile(r"[01]+"), 8: re.compile(r"[0-7]+")}


def type_of(v: Any) -> str:
    if v is UNDEFINED:
        return "undefined"
    if v is None or isinstance(v, (dict, list)):
        return "object"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    raise Fallback


def number_to_string(x: float | int) -> str:
    """ECMAScript Number::toString (shortest round-trip digits, JS exponent rules)."""
    if isinstance(x, int):
        if -MAX_SAFE_INT <= x <= MAX_SAFE_INT:
            return str(x)
        x = float(x)
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp_s = repr(abs(x)).partition("e")
    int_part, _, frac = mantissa.partition(".")
    exp = int(exp_s) if exp_s else 0
    digits = (int_part + frac).lstrip("0").rstrip("0") or "0"
    # value = 0.DIGITS × 10^n
    n = exp - (len(frac) - len(frac.lstrip("0"))) if int_part == "0" else len(int_part) + exp
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    es = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return sign + digits + "e" + es
    return sign + digits[0] + "." + digits[1:] + "e" + es


def to_string(v: Any) -> str:
    """JavaScript ``String(v)``."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number_to_string(v)
    if v is None:
        return "null"
    if v is UNDEFINED:
        return "undefined"
    if isinstance(v, list):
        return ",".join("" if e is None or e is UNDEFINED else to_string(e) for e in v)
    if isinstance(v, dict):
        return "[object Object]"
    raise Fallback


def _string_to_number(s: str) -> float | int:
    s = s.strip(_WS)
    if not s:
        return 0
    if len(s) > 2 and s[0] == "0" and s[1] in "xXbBoO":
        base = {"x": 16, "b": 2, "o": 8}[s[1].lower()]
        return int(s[2:], base) if _RADIX_DIGITS[base].fullmatch(s[2:]) else math.nan
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    if _DECIMAL.fullmatch(s):
        f = float(s)
        return f
    return math.nan


def to_number(v: Any) -> float | int:
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, (int, float)):
        return v
    if v is None:
        return 0
    if v is UNDEFINED:
        return math.nan
    if isinstance(v, str):
        return _string_to_number(v)
    raise Fallback  # objects: ToPrimitive may call user-visible methods


def truthy(v: Any) -> bool:
    if v is UNDEFINED or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v == v and v != 0
    if isinstance(v, str):
        return v != ""
    return True


def utf16_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-16-le")) // 2


def _num(x: float | int) -> float | int:
    """Keep integers exact while JavaScript would, round them to doubles beyond that."""
    if isinstance(x, int) and not -MAX_SAFE_INT <= x <= MAX_SAFE_INT:
        return float(x)
    return x


def _primitive(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return to_string(v)
    return v


def add(a: Any, b: Any) -> Any:
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) or isinstance(b, str):
        return to_string(a) + to_string(b)
    x, y = to_number(a), to_number(b)
    return _num(x + y)


def sub(a: Any, b: Any) -> Any:
    return _num(to_number(a) - to_number(b))


def mul(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if isinstance(x, float) or isinstance(y, float):
        if (x == 0 and math.isinf(y)) or (y == 0 and math.isinf(x)):
            return math.nan
        return x * y
    if (x == 0 and y < 0) or (y == 0 and x < 0):
        return -0.0
    return _num(x * y)


def div(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0:
        if x == 0 or x != x:
            return math.nan
        return math.copysign(math.inf, math.copysign(1.0, x) * math.copysign(1.0, y))
    if isinstance(x, int) and isinstance(y, int) and x == 0 and y < 0:
        return -0.0
    try:
        return x / y
    except OverflowError:
        raise Fallback from None


def mod(a: Any, b: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0 or x != x or y != y or math.isinf(x):
        return math.nan
    if math.isinf(y):
        return x
    if isinstance(x, int) and isinstance(y, int):
        r = abs(x) % abs(y)
        if r == 0:
            return -0.0 if x < 0 else 0
        return -r if x < 0 else r
    return math.fmod(x, y)


def neg(a: Any) -> Any:
    x = to_number(a)
    if isinstance(x, int) and x == 0:
        return -0.0
    return -x


def strict_equals(a: Any, b: Any) -> bool:
    ta, tb = type_of(a), type_of(b)
    if ta != tb:
        return False
    if ta == "object":
        return a is b
    return bool(a == b)


def loose_equals(a: Any, b: Any) -> bool:
    ta, tb = type_of(a), type_of(b)
    if ta == tb:
        return strict_equals(a, b)
    a_nullish, b_nullish = a is None or a is UNDEFINED, b is None or b is UNDEFINED
    if a_nullish or b_nullish:
        return a_nullish and b_nullish
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        raise Fallback
    return bool(to_number(a) == to_number(b))


def _utf16_key(s: str) -> str | bytes:
    return s if s.isascii() else s.encode("utf-16-be")


def compare(a: Any, b: Any, op: str) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` with JavaScript's string/number rules."""
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        x: Any = _utf16_key(a)
        y: Any = _utf16_key(b)
        if type(x) is not type(y):
            x, y = a.encode("utf-16-be"), b.encode("utf-16-be")
    else:
        x, y = to_number(a), to_number(b)
        if x != x or y != y:
            return False
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def member(obj: Any, key: Any) -> Any:
    """``obj[key]`` for JSON values; raises Fallback where the answer is not the data's own."""
    if isinstance(key, bool) or not isinstance(key, (str, int, float)):
        raise Fallback
    if isinstance(obj, dict):
        k = key if isinstance(key, str) else to_string(key)
        if k in obj:
            v = obj[k]
            if type(v) is int and not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                raise Fallback
            return v
        if k in OBJECT_PROTO_NAMES:
            raise Fallback
        return UNDEFINED
    if isinstance(obj, list):
        return _array_member(obj, key)
    if isinstance(obj, str):
        if key == "length":
            return utf16_len(obj)
        if obj.isascii():
            idx = _index(key)
            if idx is not None:
                return obj[idx] if idx < len(obj) else UNDEFINED
    raise Fallback


def _index(key: Any) -> int | None:
    if isinstance(key, int):
        return key if key >= 0 else None
    if isinstance(key, float):
        return int(key) if key.is_integer() and key >= 0 else None
    if _CANONICAL_INDEX.fullmatch(key):
        return int(key)
    return None


def _array_member(obj: list[Any], key: Any) -> Any:
    if key == "length":
        return len(obj)
    idx = _index(key)
    if idx is None:
        raise Fallback
    if idx >= len(obj):
        return UNDEFINED
    v = obj[idx]
    if type(v) is int and not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
        raise Fallback
    return v


def export(v: Any) -> Any:
    """A fast-path result as the engine returns it (what V8's JSON round trip would give)."""
    if v is UNDEFINED:
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        # JSON.stringify prints the shortest digits: 7.115001604077338e16 → 71150016040773380
        return int(v) if abs(v) <= MAX_SAFE_INT else int(number_to_string(v))
    if isinstance(v, int) and not isinstance(v, bool) and not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
        raise Fallback
    return v


def interpolate(v: Any) -> str:
    """A value inside mixed text, as n8n shows it: JSON for objects and arrays, '' for null."""
    if v is None or v is UNDEFINED:
        return ""
    if isinstance(v, (dict, list)):
        raise Fallback  # JSON.stringify details (key order, numbers, undefined) belong to V8
    return to_string(v)
