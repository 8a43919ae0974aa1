"""Date values: read what items hold (ISO, RFC 2822, SQL, JS ``Date`` strings, epochs), write ISO
like Luxon / moment, add durations and measure differences with calendar units.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relayflow.nodes.date_time.formats import Dialect, parse_datetime

UNITS = ("years", "quarters", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds")
_ABSOLUTE_MS = {"hours": 3_600_000, "minutes": 60_000, "seconds": 1000, "milliseconds": 1}
_JS_DATE = re.compile(
    r"^(?:[A-Za-z]{3} )?([A-Za-z]{3}) (\d{1,2}) (\d{4})(?: (\d{2}):(\d{2}):(\d{2}))?(?: GMT([+-]\d{4}))?(?: \(.*\))?$"
)
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def zone(name: str | None) -> tzinfo:
    """A timezone by IANA name ("UTC" when empty); raises ValueError for an unknown name."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None


def _from_epoch(n: float, tz: tzinfo) -> datetime:
    # heuristic for numbers without a format: beyond year 5138 in seconds means milliseconds
    seconds = n / 1000 if abs(n) >= 1e11 else n
    return datetime.fromtimestamp(seconds, UTC).astimezone(tz)


def _localize(dt: datetime, tz: tzinfo) -> datetime:
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt.astimezone(tz)


def _parse_text(text: str, tz: tzinfo) -> datetime | None:
    s = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return _from_epoch(float(s), tz)
    try:
        return _localize(datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00")), tz)
    except ValueError:
        pass
    m = _JS_DATE.match(s)
    if m:
        mon, day, year, hh, mi, ss, off = m.groups()
        iso = f"{year}-{list(calendar.month_abbr).index(mon.title()):02d}-{int(day):02d}T{hh or '00'}:{mi or '00'}:{ss or '00'}"
        return _localize(datetime.fromisoformat(iso + (f"{off[:3]}:{off[3:]}" if off else "")), tz)
    m = _US_DATE.match(s)
    if m:
        mo, d, y, hh, mi, ss = m.groups()
        return datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=tz)
    try:
        return _localize(parsedate_to_datetime(s), tz)
    except (TypeError, ValueError, IndexError):
        return None


def to_datetime(
    value: Any, tz: tzinfo, now: datetime, from_format: str = "", dialect: Dialect = "luxon"
) -> datetime:
    """An aware datetime in ``tz``; raises ValueError when ``value`` is not a date."""
    if isinstance(value, datetime):
        return _localize(value, tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        return _from_epoch(float(value), tz)
    text = str(value)
    if from_format:
        return parse_datetime(text, from_format, dialect, tz, now)
    parsed = _parse_text(text, tz)
    if parsed is None:
        raise ValueError(f"{text!r} is not a date in a format that can be recognized (try 'From Format')")
    return parsed


def iso(dt: datetime) -> str:
    """Luxon's ``toISO()``: milliseconds, ``Z`` in the UTC zone, else the ``±hh:mm`` offset."""
    base = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}"
    if getattr(dt.tzinfo, "key", None) == "UTC" or dt.tzinfo is UTC:
        return base + "Z"
    off = int((dt.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if off < 0 else "+"
    return f"{base}{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}"


def iso_utc(dt: datetime) -> str:
    """moment's ``toISOString()``: always UTC with ``Z``."""
    u = dt.astimezone(UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S") + f".{u.microsecond // 1000:03d}Z"


def add_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return _wall(dt.replace(year=year, month=month, day=day))


def _wall(dt: datetime) -> datetime:
    """Normalize a wall-clock time after arithmetic (fixes the offset across DST changes)."""
    return dt.astimezone(UTC).astimezone(dt.tzinfo) if dt.tzinfo else dt


def add(dt: datetime, amount: float, unit: str) -> datetime:
    """Add ``amount`` ``unit``s: calendar units keep the wall-clock time, the others are exact."""
    unit = unit if unit.endswith("s") else unit + "s"
    if unit in ("years", "quarters", "months"):
        if amount != int(amount):
            raise ValueError(f"{amount} {unit}: only whole {unit} can be added")
        return add_months(dt, int(amount) * {"years": 12, "quarters": 3, "months": 1}[unit])
    if unit in ("weeks", "days"):
        return _wall(dt + timedelta(days=amount * (7 if unit == "weeks" else 1)))
    if unit not in _ABSOLUTE_MS:
        raise ValueError(f"unknown time unit {unit!r}")
    return (dt.astimezone(UTC) + timedelta(milliseconds=amount * _ABSOLUTE_MS[unit])).astimezone(dt.tzinfo)


def start_of(dt: datetime, unit: str) -> datetime:
    if unit == "year":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "quarter":
        return dt.replace(month=(dt.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "month":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        return _wall(start_of(dt, "day") - timedelta(days=dt.weekday()))
    if unit == "day":
        return _wall(dt.replace(hour=0, minute=0, second=0, microsecond=0))
    if unit == "hour":
        return _wall(dt.replace(minute=0, second=0, microsecond=0))
    if unit == "minute":
        return dt.replace(second=0, microsecond=0)
    return dt.replace(microsecond=0)


def round_up(dt: datetime, unit: str) -> datetime:
    """The next start of ``unit`` (``dt`` itself when it is one already)."""
    start = start_of(dt, unit)
    return start if start == dt else start_of(add(start, 1, unit), unit)


def _estimate(cursor: datetime, end: datetime, unit: str) -> int:
    """A lower bound of whole ``unit``s from ``cursor`` to ``end`` (saves stepping one by one)."""
    months = (end.year - cursor.year) * 12 + end.month - cursor.month
    if unit in ("years", "quarters", "months"):
        return max(0, months // {"years": 12, "quarters": 3, "months": 1}[unit] - 1)
    days = (end - cursor).total_seconds() / 86400
    return max(0, int(days // (7 if unit == "weeks" else 1)) - 1)


def _whole(v: float) -> float:
    return int(v) if float(v).is_integer() else v


def _diff_positive(start: datetime, end: datetime, units: list[str]) -> dict[str, float]:
    """Whole calendar units largest first, the remainder spread over the smaller (Luxon-like)."""
    out: dict[str, float] = {}
    cursor = start
    calendar_units = [u for u in units if u not in _ABSOLUTE_MS]
    for u in calendar_units:
        n = _estimate(cursor, end, u)
        while add(cursor, n + 1, u) <= end:
            n += 1
        out[u] = n
        cursor = add(cursor, n, u)
    remaining_ms = (end - cursor) / timedelta(milliseconds=1)
    exact = [u for u in units if u in _ABSOLUTE_MS]
    for k, u in enumerate(exact):
        size = _ABSOLUTE_MS[u]
        if k == len(exact) - 1:
            out[u] = remaining_ms / size
        else:
            out[u] = remaining_ms // size
            remaining_ms -= out[u] * size
    if not exact and calendar_units and remaining_ms:
        last = calendar_units[-1]
        step = (add(cursor, 1, last) - cursor) / timedelta(milliseconds=1)
        out[last] += remaining_ms / step
    return {u: _whole(v) for u, v in out.items()}


def diff(start: datetime, end: datetime, units: list[str]) -> dict[str, float]:
    """``end - start`` in ``units`` (plural names), as Luxon's ``diff(...).toObject()``."""
    ordered = [u for u in UNITS if u in units] or ["days"]
    if end < start:
        return {
            k: -v if v else 0 for k, v in _diff_positive(end, start.astimezone(end.tzinfo), ordered).items()
        }
    return _diff_positive(start, end.astimezone(start.tzinfo), ordered)


def iso_duration(d: dict[str, float]) -> str:
    """An ISO 8601 duration (``P1Y2M3DT4H5M6S``)."""

    def num(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    seconds = d.get("seconds", 0) + d.get("milliseconds", 0) / 1000
    date_part = "".join(
        f"{num(d[u])}{c}"
        for u, c in (("years", "Y"), ("months", "M"), ("weeks", "W"), ("days", "D"))
        if d.get(u)
    )
    time_part = "".join(
        f"{num(v)}{c}" for v, c in ((d.get("hours", 0), "H"), (d.get("minutes", 0), "M"), (seconds, "S")) if v
    )
    return "P" + date_part + (("T" + time_part) if time_part else "") if date_part or time_part else "PT0S"
