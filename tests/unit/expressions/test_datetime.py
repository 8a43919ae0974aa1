"""$now, $today, DateTime, Duration and Interval (our Luxon-like API), checked against zoneinfo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayflow.expressions import V8ExpressionEngine
from tests.unit.expressions.conftest import NOW, one, scope


async def test_now_and_today_follow_the_clock_and_the_workflow_timezone(engine: V8ExpressionEngine) -> None:
    assert await one(engine, "{{ $now.toISO() }}") == "2024-03-10T15:30:45.123Z"
    assert await one(engine, "{{ $today.toISO() }}") == "2024-03-10T00:00:00.000Z"
    berlin = scope(timezone="Europe/Berlin")
    assert await one(engine, "{{ $now.toISO() }}", berlin) == "2024-03-10T16:30:45.123+01:00"
    assert await one(engine, "{{ $today.toISO() }}", berlin) == "2024-03-10T00:00:00.000+01:00"
    assert await one(engine, "{{ $now.toMillis() }}") == int(NOW.timestamp() * 1000)
    assert await one(engine, "{{ $now }}") == "2024-03-10T15:30:45.123Z"
    assert await one(engine, "at {{ $now }}") == "at 2024-03-10T15:30:45.123Z"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-10 15:30:45.123"),
        ("d/M/yy h:m a", "10/3/24 3:30 PM"),
        ("EEE, dd MMM yyyy", "Sun, 10 Mar 2024"),
        ("EEEE MMMM d", "Sunday March 10"),
        ("'week' W, 'day' o, 'q'q", "week 10, day 70, q1"),
        ("HH 'o''clock'", "15 o'clock"),
        ("ZZ z", "+00:00 UTC"),
        ("X", str(int(NOW.timestamp()))),
        ("DDD", "March 10, 2024"),
    ],
)
async def test_to_format(engine: V8ExpressionEngine, fmt: str, expected: str) -> None:
    assert await one(engine, "{{ $now.toFormat($json.f) }}", scope([{"f": fmt}])) == expected


async def test_parsing_and_zones(engine: V8ExpressionEngine) -> None:
    assert await one(
        engine, "{{ DateTime.fromISO('2024-07-01T12:00:00Z').setZone('America/New_York').toISO() }}"
    ) == ("2024-07-01T08:00:00.000-04:00")
    # a wall time without offset is read in the workflow's zone
    ny = scope(timezone="America/New_York")
    assert await one(engine, "{{ DateTime.fromISO('2024-01-15T09:30').toMillis() }}", ny) == int(
        datetime(2024, 1, 15, 9, 30, tzinfo=ZoneInfo("America/New_York")).timestamp() * 1000
    )
    assert await one(
        engine, "{{ DateTime.fromISO('2024-01-15T09:30:00+02:00', {setZone: true}).toISO() }}"
    ) == ("2024-01-15T09:30:00.000+02:00")
    assert await one(engine, "{{ DateTime.fromFormat('25/12/2023 18:05', 'dd/MM/yyyy HH:mm').toISO() }}") == (
        "2023-12-25T18:05:00.000Z"
    )
    assert (
        await one(engine, "{{ DateTime.fromFormat('Mar 3 2021 7:05 PM', 'MMM d yyyy h:mm a').hour }}") == 19
    )
    assert await one(engine, "{{ DateTime.fromMillis(0).toISO() }}") == "1970-01-01T00:00:00.000Z"
    assert await one(engine, "{{ DateTime.fromSeconds(86400).toISODate() }}") == "1970-01-02"
    assert await one(engine, "{{ DateTime.fromISO('nope').isValid }}") is False
    assert await one(engine, "{{ '2024-02-29'.toDateTime().plus(1, 'year').toISODate() }}") == "2025-02-28"


async def test_arithmetic(engine: V8ExpressionEngine) -> None:
    base = "DateTime.fromISO('2024-01-31T10:00:00Z')"
    cases: dict[str, Any] = {
        f"{base}.plus({{months: 1}}).toISODate()": "2024-02-29",
        f"{base}.plus(1, 'month').toISODate()": "2024-02-29",
        f"{base}.minus({{days: 31, hours: 1}}).toISO()": "2023-12-31T09:00:00.000Z",
        f"{base}.startOf('month').toISO()": "2024-01-01T00:00:00.000Z",
        f"{base}.endOf('day').toISO()": "2024-01-31T23:59:59.999Z",
        f"{base}.startOf('week').toISODate()": "2024-01-29",
        f"{base}.set({{hour: 5, minute: 7}}).toISO()": "2024-01-31T05:07:00.000Z",
        f"{base}.diff(DateTime.fromISO('2024-01-01T10:00:00Z'), 'days').days": 30,
        f"{base}.diff(DateTime.fromISO('2023-11-30T10:00:00Z'), ['months', 'days']).toObject()": {
            "months": 2,
            "days": 1,
        },
        f"{base}.diff(DateTime.fromISO('2024-01-31T07:30:00Z')).as('hours')": 2.5,
        f"[{base}.year, {base}.month, {base}.day, {base}.weekday, {base}.hour]": [2024, 1, 31, 3, 10],
        f"{base}.toJSDate().toISOString()": "2024-01-31T10:00:00.000Z",
        f"{base}.isWeekend()": False,
        f"{base}.format('yyyy')": "2024",
        f"{base}.hasSame(DateTime.fromISO('2024-01-02T00:00:00Z'), 'month')": True,
    }
    for code, expected in cases.items():
        assert await one(engine, "{{ " + code + " }}") == expected, code


async def test_dst_arithmetic_keeps_wall_time(engine: V8ExpressionEngine) -> None:
    # Berlin switches to summer time on 2024-03-31: one calendar day is 23 hours long
    s = scope(timezone="Europe/Berlin")
    got = await one(engine, "{{ DateTime.fromISO('2024-03-30T12:00').plus({days: 1}).toISO() }}", s)
    assert got == "2024-03-31T12:00:00.000+02:00"
    got = await one(engine, "{{ DateTime.fromISO('2024-03-30T12:00').plus({hours: 24}).toISO() }}", s)
    assert got == "2024-03-31T13:00:00.000+02:00"


async def test_duration(engine: V8ExpressionEngine) -> None:
    assert await one(engine, "{{ Duration.fromObject({hours: 1, minutes: 30}).as('minutes') }}") == 90
    assert await one(engine, "{{ Duration.fromISO('P1DT2H').toMillis() }}") == 26 * 3600 * 1000
    assert await one(engine, "{{ Duration.fromMillis(5400000).shiftTo('hours', 'minutes').toObject() }}") == {
        "hours": 1,
        "minutes": 30,
    }
    assert await one(engine, "{{ Duration.fromObject({minutes: 90}).toISO() }}") == "PT90M"
    assert await one(engine, "{{ Interval.fromDateTimes($today, $now).length('hours') > 15 }}") is True


async def test_js_dates_get_the_date_functions(engine: V8ExpressionEngine) -> None:
    assert await one(engine, "{{ new Date('2024-05-06T07:08:09Z').format('yyyy/MM/dd') }}") == "2024/05/06"
    got = await one(
        engine, "{{ new Date('2024-05-06T07:08:09Z').format('yyyy-MM-dd HH:mm', 'America/Chicago') }}"
    )
    assert got == "2024-05-06 02:08"


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
]


@settings(max_examples=40, deadline=None)
@given(
    ms=st.integers(min_value=0, max_value=4_102_444_800_000),
    zone=st.sampled_from(ZONES),
    days=st.integers(min_value=-400, max_value=400),
)
async def test_zone_conversion_matches_zoneinfo(
    engine: V8ExpressionEngine, ms: int, zone: str, days: int
) -> None:
    code = "{{ DateTime.fromMillis($json.ms, {zone: $json.zone}).toObject() }}"
    got = await one(engine, code, scope([{"ms": ms, "zone": zone}]))
    local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(zone))
    assert (got["year"], got["month"], got["day"], got["hour"], got["minute"], got["second"]) == (
        local.year, local.month, local.day, local.hour, local.minute, local.second,
    )  # fmt: skip
    # whole days keep the wall-clock time (when it exists on the target day)
    code = "{{ DateTime.fromMillis($json.ms, {zone: $json.zone}).plus({days: $json.d}).toObject() }}"
    got = await one(engine, code, scope([{"ms": ms, "zone": zone, "d": days}]))
    moved = (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=ZoneInfo(zone))
    if moved.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == moved.replace(tzinfo=None):
        assert (got["day"], got["hour"], got["minute"]) == (moved.day, moved.hour, moved.minute)
