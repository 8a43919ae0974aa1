"""Date format strings in Luxon's and moment.js's token dialects: format and parse (en-US).

Both dialects are tokenized into one set of canonical fields (``year4``, ``month_long``, ...), so
one formatter and one parser serve them. Luxon tokens are runs of one letter (``yyyy``), literal
text goes in single quotes; moment tokens are matched longest first, literal text in ``[...]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Literal

from relayflow.nodes.date_time.tokens import (
    LUXON,
    LUXON_MACROS,
    MOMENT,
    MOMENT_MACROS,
    MONTHS,
    MONTHS_SHORT,
    WEEKDAYS,
    WEEKDAYS_SHORT,
)

Dialect = Literal["luxon", "moment"]
Token = tuple[bool, str]  # (is a field, canonical field name or literal text)

_MOMENT_TOKENS = sorted([*MOMENT, *MOMENT_MACROS], key=len, reverse=True)


def _tokenize_luxon(fmt: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "'":
            end = fmt.find("'", i + 1)
            end = len(fmt) if end == -1 else end
            out.append((False, fmt[i + 1 : end] if end > i + 1 else "'"))
            i = end + 1
            continue
        j = i
        while j < len(fmt) and fmt[j] == ch:
            j += 1
        run = fmt[i:j]
        if run in LUXON_MACROS:
            out.extend(_tokenize_luxon(LUXON_MACROS[run]))
        elif run in LUXON:
            out.append((True, LUXON[run]))
        else:
            out.append((False, run))
        i = j
    return out


def _tokenize_moment(fmt: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "[":
            end = fmt.find("]", i)
            if end != -1:
                out.append((False, fmt[i + 1 : end]))
                i = end + 1
                continue
        for tok in _MOMENT_TOKENS:
            if fmt.startswith(tok, i):
                if tok in MOMENT_MACROS:
                    out.extend(_tokenize_moment(MOMENT_MACROS[tok]))
                else:
                    out.append((True, MOMENT[tok]))
                i += len(tok)
                break
        else:
            out.append((False, fmt[i]))
            i += 1
    return out


@lru_cache(maxsize=512)
def tokenize(fmt: str, dialect: Dialect) -> tuple[Token, ...]:
    return tuple(_tokenize_luxon(fmt) if dialect == "luxon" else _tokenize_moment(fmt))


# --- formatting --------------------------------------------------------------------------------
def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _offset(dt: datetime, style: str) -> str:
    total = int((dt.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if total < 0 else "+"
    h, m = divmod(abs(total), 60)
    if style == "short":
        return f"{sign}{h}" + (f":{m:02d}" if m else "")
    return f"{sign}{h:02d}:{m:02d}" if style == "colon" else f"{sign}{h:02d}{m:02d}"


def _hour12(dt: datetime) -> int:
    return dt.hour % 12 or 12


def _zone_name(dt: datetime) -> str:
    key = getattr(dt.tzinfo, "key", None)
    return str(key) if key else (dt.tzname() or "UTC")


FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "year": lambda d: str(d.year),
    "year4": lambda d: f"{d.year:04d}",
    "year6": lambda d: f"{d.year:06d}",
    "year2": lambda d: f"{d.year % 100:02d}",
    "month": lambda d: str(d.month),
    "month2": lambda d: f"{d.month:02d}",
    "month_ord": lambda d: _ordinal(d.month),
    "month_short": lambda d: MONTHS_SHORT[d.month - 1],
    "month_long": lambda d: MONTHS[d.month - 1],
    "month_narrow": lambda d: MONTHS[d.month - 1][0],
    "day": lambda d: str(d.day),
    "day2": lambda d: f"{d.day:02d}",
    "day_ord": lambda d: _ordinal(d.day),
    "doy": lambda d: str(d.timetuple().tm_yday),
    "doy3": lambda d: f"{d.timetuple().tm_yday:03d}",
    "weekday_long": lambda d: WEEKDAYS[d.weekday()],
    "weekday_short": lambda d: WEEKDAYS_SHORT[d.weekday()],
    "weekday_min": lambda d: WEEKDAYS[d.weekday()][:2],
    "weekday_narrow": lambda d: WEEKDAYS[d.weekday()][0],
    "weekday_iso": lambda d: str(d.isoweekday()),
    "weekday_sun0": lambda d: str(d.isoweekday() % 7),
    "hour24": lambda d: str(d.hour),
    "hour24_2": lambda d: f"{d.hour:02d}",
    "hour24_1": lambda d: str(d.hour or 24),
    "hour24_1_2": lambda d: f"{d.hour or 24:02d}",
    "hour12": lambda d: str(_hour12(d)),
    "hour12_2": lambda d: f"{_hour12(d):02d}",
    "minute": lambda d: str(d.minute),
    "minute2": lambda d: f"{d.minute:02d}",
    "second": lambda d: str(d.second),
    "second2": lambda d: f"{d.second:02d}",
    "ms": lambda d: str(d.microsecond // 1000),
    "ms3": lambda d: f"{d.microsecond // 1000:03d}",
    "frac1": lambda d: str(d.microsecond // 100000),
    "frac2": lambda d: f"{d.microsecond // 10000:02d}",
    "ampm_upper": lambda d: "AM" if d.hour < 12 else "PM",
    "ampm_lower": lambda d: "am" if d.hour < 12 else "pm",
    "offset_short": lambda d: _offset(d, "short"),
    "offset_colon": lambda d: _offset(d, "colon"),
    "offset_plain": lambda d: _offset(d, "plain"),
    "zone_abbr": lambda d: d.tzname() or "UTC",
    "zone_name": _zone_name,
    "unix_s": lambda d: str(int(d.timestamp())),
    "unix_ms": lambda d: str(int(d.timestamp() * 1000)),
    "quarter": lambda d: str((d.month - 1) // 3 + 1),
    "quarter2": lambda d: f"{(d.month - 1) // 3 + 1:02d}",
    "iso_week": lambda d: str(d.isocalendar()[1]),
    "iso_week2": lambda d: f"{d.isocalendar()[1]:02d}",
    "iso_year": lambda d: str(d.isocalendar()[0]),
    "iso_year2": lambda d: f"{d.isocalendar()[0] % 100:02d}",
    "era": lambda d: "AD",
    "era_long": lambda d: "Anno Domini",
}


def format_datetime(dt: datetime, fmt: str, dialect: Dialect) -> str:
    return "".join(FORMATTERS[v](dt) if field else v for field, v in tokenize(fmt, dialect))


# --- parsing -----------------------------------------------------------------------------------
def _names(names: list[str]) -> str:
    return "(" + "|".join(sorted(names, key=len, reverse=True)) + ")"


_NUM = {1: r"(\d{1,2})", 2: r"(\d{2})", 3: r"(\d{3})", 4: r"(\d{4})", 0: r"(\d{1,3})"}
PATTERNS: dict[str, str] = {
    "year": r"(\d{1,6})",
    "year4": _NUM[4],
    "year6": r"(\d{6})",
    "year2": _NUM[2],
    "month": _NUM[1],
    "month2": _NUM[2],
    "month_ord": r"(\d{1,2})(?:st|nd|rd|th)",
    "month_short": _names(MONTHS_SHORT),
    "month_long": _names(MONTHS),
    "month_narrow": r"([A-Z])",
    "day": _NUM[1],
    "day2": _NUM[2],
    "day_ord": r"(\d{1,2})(?:st|nd|rd|th)",
    "doy": r"(\d{1,3})",
    "doy3": _NUM[3],
    "weekday_long": _names(WEEKDAYS),
    "weekday_short": _names(WEEKDAYS_SHORT),
    "weekday_min": _names([d[:2] for d in WEEKDAYS]),
    "weekday_narrow": r"([A-Z])",
    "weekday_iso": r"(\d)",
    "weekday_sun0": r"(\d)",
    "hour24": _NUM[1],
    "hour24_2": _NUM[2],
    "hour24_1": _NUM[1],
    "hour24_1_2": _NUM[2],
    "hour12": _NUM[1],
    "hour12_2": _NUM[2],
    "minute": _NUM[1],
    "minute2": _NUM[2],
    "second": _NUM[1],
    "second2": _NUM[2],
    "ms": _NUM[0],
    "ms3": _NUM[3],
    "frac1": r"(\d)",
    "frac2": _NUM[2],
    "ampm_upper": r"([AaPp]\.?[Mm]\.?)",
    "ampm_lower": r"([AaPp]\.?[Mm]\.?)",
    "offset_short": r"(Z|[+-]\d{1,2}(?::?\d{2})?)",
    "offset_colon": r"(Z|[+-]\d{2}:?\d{2})",
    "offset_plain": r"(Z|[+-]\d{2}:?\d{2})",
    "zone_abbr": r"([A-Za-z]{1,6})",
    "zone_name": r"([A-Za-z_/+\-0-9]+)",
    "unix_s": r"(-?\d+(?:\.\d+)?)",
    "unix_ms": r"(-?\d+)",
    "quarter": r"([1-4])",
    "quarter2": r"(0[1-4])",
    "iso_week": _NUM[1],
    "iso_week2": _NUM[2],
    "iso_year": _NUM[4],
    "iso_year2": _NUM[2],
    "era": r"(AD|BC)",
    "era_long": r"(Anno Domini|Before Christ)",
}


@lru_cache(maxsize=512)
def _parser(fmt: str, dialect: Dialect) -> tuple[re.Pattern[str], tuple[str, ...]]:
    parts: list[str] = []
    fields: list[str] = []
    for field, v in tokenize(fmt, dialect):
        if field:
            parts.append(PATTERNS[v])
            fields.append(v)
        else:
            parts.append(r"\s+" if v.isspace() else re.escape(v))
    return re.compile("".join(parts) + r"\s*$", re.IGNORECASE), tuple(fields)


def _parse_offset(text: str) -> timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours = int(digits[:-2] or 0) if len(digits) > 2 else int(digits)
    minutes = int(digits[-2:]) if len(digits) > 2 else 0
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _month_number(value: str) -> int:
    low = value[:3].lower()
    return [m.lower() for m in MONTHS_SHORT].index(low) + 1


def parse_datetime(text: str, fmt: str, dialect: Dialect, tz: tzinfo, now: datetime) -> datetime:
    """``text`` read with ``fmt``; fields it lacks default to the current year, month 1, day 1, 00:00."""
    rx, fields = _parser(fmt, dialect)
    m = rx.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} does not match the format {fmt!r}")
    v: dict[str, int] = {"year": now.year, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "us": 0}
    pm: bool | None = None
    offset: tzinfo | None = None
    for name, raw in zip(fields, m.groups(), strict=True):
        if name in ("unix_s", "unix_ms"):
            seconds = float(raw) / (1 if name == "unix_s" else 1000)
            return datetime.fromtimestamp(seconds, UTC).astimezone(tz)
        if name.startswith("year"):
            v["year"] = int(raw) + (
                2000 if name == "year2" and int(raw) < 69 else 1900 if name == "year2" else 0
            )
        elif name.startswith("month"):
            v["month"] = _month_number(raw) if name in ("month_short", "month_long") else int(raw)
        elif name.startswith("day"):
            v["day"] = int(raw)
        elif name.startswith("hour"):
            v["hour"] = int(raw) % 24 if "24" in name else int(raw) % 12
        elif name.startswith("minute"):
            v["minute"] = int(raw)
        elif name.startswith("second"):
            v["second"] = int(raw)
        elif name in ("ms", "ms3"):
            v["us"] = int(raw) * 1000
        elif name in ("frac1", "frac2"):
            v["us"] = int(raw) * (100000 if name == "frac1" else 10000)
        elif name.startswith("ampm"):
            pm = raw[0].lower() == "p"
        elif name.startswith("offset"):
            offset = _parse_offset(raw)
    if pm:
        v["hour"] = v["hour"] % 12 + 12
    naive = datetime(v["year"], v["month"], v["day"], v["hour"], v["minute"], v["second"], v["us"])
    return naive.replace(tzinfo=offset).astimezone(tz) if offset else naive.replace(tzinfo=tz)
