"""iCalendar (RFC 5545): one VEVENT per file written (Convert to File's ``iCal`` operation), and
calendars read into n8n's JSON shape (Extract from File's ``fromIcs``).

Times with an offset are written in UTC (``...Z``); times without one are written as floating
local times; all-day events use ``VALUE=DATE`` with an exclusive end date.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relayflow.nodes.convert.formats import FileFormatError, js_text


@dataclass(frozen=True)
class Event:
    title: str
    start: str
    end: str = ""
    all_day: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


def _when(value: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise FileFormatError(f"the event's {what} {value!r} is not an ISO date or date-time") from None


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return moment.strftime("%Y%m%dT%H%M%S")


def _escape(value: Any) -> str:
    text = js_text(value)
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts: list[str] = []
    current = ""
    for ch in line:
        limit = 75 if not parts else 74
        if len((current + ch).encode("utf-8")) > limit:
            parts.append(current)
            current = ""
        current += ch
    parts.append(current)
    return "\r\n ".join(parts)


_TEXT_FIELDS = {"description": "DESCRIPTION", "location": "LOCATION", "url": "URL"}
_STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}


def write_ics(event: Event, now: datetime) -> bytes:
    if not event.start:
        raise FileFormatError("the event has no start")
    start = _when(event.start, "start")
    end = _when(event.end, "end") if event.end else None
    f = event.fields
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//relayflow//Convert to File//EN", "METHOD:PUBLISH"]
    if f.get("calName"):
        lines.append(f"X-WR-CALNAME:{_escape(f['calName'])}")
    lines += [
        "BEGIN:VEVENT",
        f"UID:{_escape(f.get('uid') or uuid.uuid4())}",
        f"DTSTAMP:{_stamp(now.astimezone(UTC))}",
    ]
    if event.all_day:
        first: date = start.date()
        last = end.date() if end else first
        lines.append(f"DTSTART;VALUE=DATE:{first:%Y%m%d}")
        lines.append(f"DTEND;VALUE=DATE:{last + timedelta(days=1) if last <= first else last:%Y%m%d}")
    else:
        lines.append(f"DTSTART:{_stamp(start)}")
        lines.append(f"DTEND:{_stamp(end or start + timedelta(hours=1))}")
    lines.append(f"SUMMARY:{_escape(event.title)}")
    for key, name in _TEXT_FIELDS.items():
        if f.get(key):
            lines.append(f"{name}:{_escape(f[key])}")
    if f.get("status"):
        lines.append(f"STATUS:{_STATUS.get(str(f['status']).lower(), str(f['status']).upper())}")
    if f.get("busyStatus"):
        lines.append(f"X-MICROSOFT-CDO-BUSYSTATUS:{str(f['busyStatus']).upper()}")
    if str(f.get("sequence", "")).isdigit():
        lines.append(f"SEQUENCE:{f['sequence']}")
    if f.get("recurrenceRule"):
        lines.append(f"RRULE:{str(f['recurrenceRule']).removeprefix('RRULE:')}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")


# reading -------------------------------------------------------------------------------------------
# The shape follows what n8n's Extract from File gives (ts-ics): ``{version, prodId, method?,
# events: [{uid, summary, stamp, start, end?, ...}]}`` with dates as ``{date, type?, local?}``.

_EVENT_TEXT = {
    "SUMMARY": "summary",
    "UID": "uid",
    "DESCRIPTION": "description",
    "LOCATION": "location",
    "URL": "url",
    "STATUS": "status",
    "CLASS": "class",
    "TRANSP": "timeTransparent",
}
_EVENT_DATES = {
    "DTSTART": "start",
    "DTEND": "end",
    "DTSTAMP": "stamp",
    "CREATED": "created",
    "LAST-MODIFIED": "lastModified",
    "RECURRENCE-ID": "recurrenceId",
}


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append("\n" if nxt in "nN" else nxt)
        else:
            out.append(ch)
    return "".join(out)


def _content_lines(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Unfolded content lines as (NAME, params, value)."""
    unfolded: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += raw[1:]
        elif raw.strip():
            unfolded.append(raw)
    lines = []
    for line in unfolded:
        head, sep, value = line.partition(":")
        if not sep:
            raise FileFormatError(f"invalid iCalendar line: {line[:60]!r}")
        name, *params = head.split(";")
        pairs = dict(p.split("=", 1) for p in params if "=" in p)
        lines.append((name.upper(), {k.upper(): v.strip('"') for k, v in pairs.items()}, value))
    return lines


def _js_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _date(value: str, params: dict[str, str]) -> dict[str, Any]:
    value = value.strip()
    try:
        if params.get("VALUE") == "DATE" or len(value) == 8:
            day = datetime.strptime(value[:8], "%Y%m%d").replace(tzinfo=UTC)
            return {"date": _js_iso(day), "type": "DATE"}
        moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise FileFormatError(f"invalid iCalendar date {value!r}") from None
    if value.endswith("Z") or "TZID" not in params:
        return {"date": _js_iso(moment.replace(tzinfo=UTC)), "type": "DATE-TIME"}
    try:
        zone = ZoneInfo(params["TZID"])
    except (ZoneInfoNotFoundError, ValueError):
        return {"date": _js_iso(moment.replace(tzinfo=UTC)), "type": "DATE-TIME"}
    local = moment.replace(tzinfo=zone)
    offset = local.strftime("%z")
    return {
        "date": _js_iso(local),
        "type": "DATE-TIME",
        "local": {
            "date": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "timezone": params["TZID"],
            "tzoffset": offset,
        },
    }


def _person(value: str, params: dict[str, str]) -> dict[str, Any]:
    person: dict[str, Any] = {
        "email": value.split(":", 1)[1] if value.lower().startswith("mailto:") else value
    }
    for key, name in (("CN", "name"), ("ROLE", "role"), ("PARTSTAT", "partstat")):
        if key in params:
            person[name] = params[key]
    if "RSVP" in params:
        person["rsvp"] = params["RSVP"].upper() == "TRUE"
    return person


def _event_property(event: dict[str, Any], name: str, params: dict[str, str], value: str) -> None:
    if name in _EVENT_TEXT:
        event[_EVENT_TEXT[name]] = _unescape(value)
    elif name in _EVENT_DATES:
        event[_EVENT_DATES[name]] = _date(value, params)
    elif name == "SEQUENCE" and value.strip().isdigit():
        event["sequence"] = int(value)
    elif name == "CATEGORIES":
        event.setdefault("categories", []).extend(_unescape(c) for c in value.split(","))
    elif name == "ORGANIZER":
        event["organizer"] = _person(value, params)
    elif name == "ATTENDEE":
        event.setdefault("attendees", []).append(_person(value, params))
    elif name == "RRULE":
        parts = dict(p.split("=", 1) for p in value.split(";") if "=" in p)
        rule: dict[str, Any] = {k.lower(): v for k, v in parts.items()}
        if "freq" in rule:
            rule["frequency"] = rule.pop("freq")
        for key in ("interval", "count"):
            if str(rule.get(key, "")).isdigit():
                rule[key] = int(rule[key])
        if "until" in rule:
            rule["until"] = _date(rule["until"], {})
        event["recurrenceRule"] = rule
    elif name == "EXDATE":
        event.setdefault("exceptionDates", []).extend(_date(v, params) for v in value.split(","))


def read_ics(text: str) -> dict[str, Any]:
    if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        raise FileFormatError("the file is not an iCalendar file (it does not begin with BEGIN:VCALENDAR)")
    lines = _content_lines(text)
    calendar: dict[str, Any] = {"events": []}
    stack: list[str] = []
    event: dict[str, Any] | None = None
    for name, params, value in lines:
        if name == "BEGIN":
            stack.append(value.strip().upper())
            if stack == ["VCALENDAR", "VEVENT"]:
                event = {}
        elif name == "END":
            if stack and stack[-1] == "VEVENT" and event is not None and len(stack) == 2:
                calendar["events"].append(event)
                event = None
            if stack:
                stack.pop()
        elif stack == ["VCALENDAR"]:
            key = {"VERSION": "version", "PRODID": "prodId", "METHOD": "method", "X-WR-CALNAME": "name"}.get(
                name
            )
            if key:
                calendar[key] = _unescape(value)
        elif stack == ["VCALENDAR", "VEVENT"] and event is not None:
            _event_property(event, name, params, value)
    return calendar
