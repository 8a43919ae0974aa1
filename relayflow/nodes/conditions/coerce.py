"""Type checks and conversions for condition values, following n8n's filter rules.

Strict validation accepts a value only when it already has the operator's type; loose validation
converts where it can (``"5"`` to ``5``, ``"true"`` to ``True``, a JSON string to an array...).
``None`` (a missing value) is always accepted and stays ``None``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from typing import Any

from relayflow.errors import NodeError

LOOSE_HINT = "Try changing the type of comparison, or enable 'Less Strict Type Validation' (loose)."


class ConditionTypeError(NodeError):
    """A condition value does not have the type its operator compares."""

    code = "condition_wrong_type"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, description=LOOSE_HINT)


def js_type(value: Any) -> str:
    """The name JavaScript's ``typeof`` (plus "array", "null") would give the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, (datetime, date)):
        return "dateTime"
    return "object"


def js_string(value: Any) -> str:
    """``String(value)`` the way n8n renders it (objects and arrays as compact JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = js_string(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _wrong(value: Any, expected: str, where: str, converted: bool) -> ConditionTypeError:
    if converted:
        msg = f"Wrong type: '{_short(value)}' is a {js_type(value)} and can't be converted to a {expected}"
    else:
        msg = f"Wrong type: '{_short(value)}' is a {js_type(value)} but was expecting a {expected}"
    return ConditionTypeError(f"{msg} [{where}]" if where else msg)


def to_number(value: Any) -> float | int | None:
    """``Number(value)`` for loose conversion; ``None`` when it is not a number."""
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) or text.lower().lstrip("+-") == "infinity" else None
    return None


def to_boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if is_number(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    return None


_SQL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( ?(Z|[+-]\d{2}:?\d{2}))?$")


def parse_iso(text: str) -> datetime | None:
    candidate = text.strip()
    if not candidate or not candidate[:4].isdigit():
        return None
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_datetime(value: Any, loose: bool) -> datetime | None:
    """A timezone-aware datetime (naive values are UTC), or ``None`` when not a date."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        parsed = parse_iso(value)
        if parsed is not None or not loose:
            return parsed
        if _SQL_DATETIME.match(value.strip()):
            return parse_iso(value.strip().replace(" ", "T", 1))
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            number = to_number(value)
            return _from_millis(number) if number is not None else None
    if loose and is_number(value):
        return _from_millis(value)
    return None


def _from_millis(ms: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_json(value: str, kind: type) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, kind) else None


def validate(value: Any, type_: str, loose: bool, where: str = "") -> Any:
    """Check ``value`` against an operator type, converting it when ``loose``.

    Raises ``ConditionTypeError`` naming ``where`` (e.g. "condition 2") when it does not fit.
    """
    if value is None or type_ == "any":
        return value
    if type_ == "string":
        if isinstance(value, str):
            return value
        if loose:
            return js_string(value)
        raise _wrong(value, "string", where, False)
    if type_ == "number":
        if is_number(value):
            return value
        converted = to_number(value) if loose else None
        if converted is None:
            raise _wrong(value, "number", where, loose)
        return converted
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        flag = to_boolean(value) if loose else None
        if flag is None:
            raise _wrong(value, "boolean", where, loose)
        return flag
    if type_ == "dateTime":
        moment = to_datetime(value, loose)
        if moment is None:
            raise _wrong(value, "date-time", where, loose)
        return moment
    if type_ == "array":
        return _container(value, list, "array", loose, where)
    if type_ == "object":
        return _container(value, dict, "object", loose, where)
    raise ConditionTypeError(f"unknown value type {type_!r} [{where}]")


def _container(value: Any, kind: type, name: str, loose: bool, where: str) -> Any:
    if isinstance(value, kind):
        return value
    parsed = _from_json(value, kind) if loose and isinstance(value, str) else None
    if parsed is None:
        raise _wrong(value, name, where, loose)
    return parsed
