"""Schedule rules and fire times: n8n rule shapes, DST, catch-up and slot keys."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayflow.errors import InputInvalid, ParameterInvalid, UnknownNodeType
from relayflow.nodes.triggers import ScheduleParams
from relayflow.triggers.schedule import (
    CronRule,
    Fire,
    IntervalRule,
    Rule,
    due_after_downtime,
    fires_between,
    next_fire,
    rules_for,
    slot_key,
    slots_between,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"
ST = "n8n-nodes-base.scheduleTrigger"
CRON = "n8n-nodes-base.cron"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def walls(times: list[datetime], tz: str) -> list[str]:
    """Fire times as the local wall clock shows them, offset included."""
    return [t.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M:%S%z") for t in times]


def schedule(*intervals: dict[str, Any]) -> list[Rule]:
    return rules_for(ST, {"rule": {"interval": list(intervals)}})


def gaps_s(times: list[datetime]) -> set[int]:
    return {int((b - a).total_seconds()) for a, b in itertools.pairwise(times)}


# --- n8n rule shapes found in the corpus (/work/shared/n8n-corpus), extracted by hand ------------
CORPUS_SHAPES = [
    # netbox-vyos-workflow, v1.2
    (ST, {"rule": {"interval": [{"field": "minutes", "minutesInterval": 5}]}}, [IntervalRule(300)]),
    # 0381 Telegram, v1.1: minutesInterval left at its default (5)
    (ST, {"rule": {"interval": [{"field": "minutes"}]}}, [IntervalRule(300)]),
    # glasp highlights export, v1.2
    (ST, {"rule": {"interval": [{"field": "hours", "hoursInterval": 6}]}}, [IntervalRule(21600)]),
    # 1468 Splitout, v1.2: every hour on the hour
    (ST, {"rule": {"interval": [{"field": "hours"}]}}, [IntervalRule(3600)]),
    # Backup all n8n Workflows To Github, v1.2 (field left at its default: days)
    (ST, {"rule": {"interval": [{"triggerAtHour": 1, "triggerAtMinute": 33}]}}, [CronRule("0 33 1 * * *")]),
    # Calvin and Hobbes, v1.2
    (ST, {"rule": {"interval": [{"triggerAtHour": 9}]}}, [CronRule("0 0 9 * * *")]),
    # 0863 Code Schedule, v1: an all-default rule is daily at midnight
    (ST, {"rule": {"interval": [{}]}}, [CronRule("0 0 0 * * *")]),
    # master-pausiert-check, v1.1
    (
        ST,
        {"rule": {"interval": [{"expression": "0 8 * * *", "field": "cronExpression"}]}},
        [CronRule("0 0 8 * * *")],
    ),
    # legacy Cron, 1067 Functionitem: five fields, every minute of hours 0, 6, 12, 18
    (
        CRON,
        {"triggerTimes": {"item": [{"cronExpression": "* */6 * * *", "mode": "custom"}]}},
        [CronRule("0 * */6 * * *")],
    ),
    # legacy Cron, 0021 HTTP Awssqs
    (CRON, {"triggerTimes": {"item": [{"mode": "everyMinute"}]}}, [CronRule("0 * * * * *")]),
]


@pytest.mark.parametrize(("node_type", "params", "expected"), CORPUS_SHAPES)
def test_corpus_shapes_become_rules(node_type: str, params: dict[str, Any], expected: list[Rule]) -> None:
    assert rules_for(node_type, params) == expected
    relayflow_type = "relayflow." + node_type.split(".")[-1]
    assert rules_for(relayflow_type, params) == expected


def test_validated_params_and_defaults() -> None:
    assert rules_for("relayflow.scheduleTrigger", ScheduleParams()) == [CronRule("0 0 0 * * *")]
    assert rules_for(ST, {}) == [CronRule("0 0 0 * * *")]
    assert rules_for(CRON, {}) == []
    assert rules_for(ST, {"rule": {"interval": []}}) == []


def test_corpus_backup_workflow_fires_at_0133_kolkata() -> None:
    rules = rules_for(ST, {"rule": {"interval": [{"triggerAtHour": 1, "triggerAtMinute": 33}]}})
    # 00:00Z is 05:30 in Kolkata, past today's 01:33: the next fire is tomorrow 01:33 IST
    assert next_fire(rules[0], utc(2024, 5, 1), KOLKATA) == utc(2024, 5, 1, 20, 3)


def test_corpus_cron_every_minute_of_every_sixth_hour() -> None:
    (rule,) = rules_for(
        CRON, {"triggerTimes": {"item": [{"cronExpression": "* */6 * * *", "mode": "custom"}]}}
    )
    day = slots_between([rule], utc(2024, 5, 1), utc(2024, 5, 2), "UTC")
    assert len(day) == 4 * 60  # (start, end]: 00:00 on the 1st is out, on the 2nd in
    assert {t.hour for t in day} == {0, 6, 12, 18}


# --- the other rule shapes ----------------------------------------------------------------------
def test_schedule_fields_map_to_rules() -> None:
    assert schedule({"field": "seconds", "secondsInterval": 10}) == [IntervalRule(10, wall_clock=False)]
    assert schedule({"field": "hours", "hoursInterval": 2, "triggerAtMinute": 15}) == [
        IntervalRule(7200, 900)
    ]
    assert schedule({"field": "days", "daysInterval": 3, "triggerAtHour": 7}) == [
        CronRule("0 0 7 * * *", 3, "day")
    ]
    assert schedule(
        {"field": "weeks", "weeksInterval": 2, "triggerAtDay": [5, 1, 1], "triggerAtHour": 9}
    ) == [CronRule("0 0 9 * * 1,5", 2, "week")]
    # n8n's editor defaults the weekday list to Sunday and leaves it out of exports
    assert schedule({"field": "weeks"}) == [CronRule("0 0 0 * * 0", 1, "week")]
    assert schedule({"field": "months", "monthsInterval": 3, "triggerAtDayOfMonth": 15}) == [
        CronRule("0 0 0 15 * *", 3, "month")
    ]
    assert schedule({"field": "cronExpression", "expression": "30 8 4 * * *"}) == [CronRule("30 8 4 * * *")]
    assert schedule({"field": "cronExpression", "expression": "@hourly"}) == [CronRule("0 0 * * * *")]


def test_cron_node_modes_map_to_rules() -> None:
    items = [
        {"mode": "everyHour", "minute": 5},
        {"mode": "everyDay", "hour": 6, "minute": 45},
        {"mode": "everyWeek", "weekday": "3", "hour": 9},
        {"mode": "everyMonth", "dayOfMonth": 28, "hour": 23, "minute": 59},
        {"mode": "everyX", "value": 10, "unit": "minutes"},
        {"mode": "everyX", "value": 4, "unit": "hours"},
        {"mode": "custom", "cronExpression": "*/10 * * * * *"},
        {},  # n8n's default: every day at 14:00
    ]
    assert rules_for(CRON, {"triggerTimes": {"item": items}}) == [
        CronRule("0 5 * * * *"),
        CronRule("0 45 6 * * *"),
        CronRule("0 0 9 * * 3"),
        CronRule("0 59 23 28 * *"),
        IntervalRule(600),
        IntervalRule(14400),
        CronRule("*/10 * * * * *"),
        CronRule("0 0 14 * * *"),
    ]


@pytest.mark.parametrize(
    ("node_type", "params", "field"),
    [
        (
            ST,
            {"rule": {"interval": [{"field": "cronExpression", "expression": "61 * * * *"}]}},
            "rule.interval[0].expression",
        ),
        (ST, {"rule": {"interval": [{}, {"field": "cronExpression"}]}}, "rule.interval[1].expression"),
        (
            ST,
            {"rule": {"interval": [{"field": "cronExpression", "expression": "0 0 0 * * * 2024"}]}},
            "rule.interval[0].expression",
        ),
        (
            ST,
            {"rule": {"interval": [{"field": "cronExpression", "expression": "0 0 31 2 *"}]}},
            "rule.interval[0].expression",
        ),
        (
            ST,
            {"rule": {"interval": [{"field": "weeks", "triggerAtDay": [9]}]}},
            "rule.interval[0].triggerAtDay",
        ),
        (
            ST,
            {"rule": {"interval": [{"field": "minutes", "minutesInterval": 0}]}},
            "rule.interval[0].minutesInterval",
        ),
        (
            CRON,
            {"triggerTimes": {"item": [{"mode": "custom", "cronExpression": "nope"}]}},
            "triggerTimes.item[0].cronExpression",
        ),
        (
            CRON,
            {"triggerTimes": {"item": [{"mode": "everyWeek", "weekday": "Mon"}]}},
            "triggerTimes.item[0].weekday",
        ),
    ],
)
def test_invalid_parameters_name_the_field(node_type: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterInvalid) as caught:
        rules_for(node_type, params)
    assert caught.value.field == "parameters." + field


def test_invalid_cron_message_quotes_what_the_user_wrote() -> None:
    with pytest.raises(ParameterInvalid, match=r"'61 \* \* \* \*'.*minute"):
        CronRule.parse("61 * * * *")
    with pytest.raises(ParameterInvalid):
        CronRule("0 0 * * *")  # the rule itself always holds six fields


def test_other_bad_input() -> None:
    with pytest.raises(UnknownNodeType):
        rules_for("relayflow.webhook", {})
    with pytest.raises(ParameterInvalid) as caught:
        next_fire(IntervalRule(60), utc(2024, 1, 1), "Mars/Olympus_Mons")
    assert caught.value.field == "settings.timezone"
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire(IntervalRule(60), datetime(2024, 1, 1), BERLIN)
    with pytest.raises(InputInvalid):
        due_after_downtime([], utc(2024, 1, 1), utc(2024, 1, 2), BERLIN, "backfill")  # type: ignore[arg-type]
    with pytest.raises(ParameterInvalid):
        IntervalRule(0)


# --- intervals ------------------------------------------------------------------------------------
def test_seconds_count_from_the_unix_epoch() -> None:
    rule = IntervalRule(45, wall_clock=False)
    after = utc(2024, 5, 1, 12, 0, 7)
    first = next_fire(rule, after, BERLIN)
    assert first > after and int(first.timestamp()) % 45 == 0 and first - after <= timedelta(seconds=45)
    assert next_fire(IntervalRule(30, wall_clock=False), utc(2024, 5, 1, 0, 0, 30), BERLIN) == utc(
        2024, 5, 1, 0, 1
    )
    minute = slots_between(
        [IntervalRule(10, wall_clock=False)], utc(2024, 5, 1), utc(2024, 5, 1, 0, 1), BERLIN
    )
    assert [t.second for t in minute] == [10, 20, 30, 40, 50, 0]


def test_minutes_follow_the_local_wall_clock() -> None:
    # Kolkata is UTC+05:30: every hour on the hour there is half past in UTC
    assert next_fire(IntervalRule(3600), utc(2024, 5, 1, 10, 40), KOLKATA) == utc(2024, 5, 1, 11, 30)
    quarter = slots_between([IntervalRule(900)], utc(2024, 5, 1, 8, 7), utc(2024, 5, 1, 9), BERLIN)
    assert walls(quarter, BERLIN) == [
        "05-01 10:15:00+0200",
        "05-01 10:30:00+0200",
        "05-01 10:45:00+0200",
        "05-01 11:00:00+0200",
    ]


def test_intervals_that_do_not_divide_the_hour_or_day_keep_their_period() -> None:
    # n8n's cron "*/7" restarts every hour; our grid runs on, 7 minutes apart
    day = slots_between([IntervalRule(420)], utc(2024, 5, 1), utc(2024, 5, 3), NEW_YORK)
    assert gaps_s(day) == {420}
    thirteen = slots_between([IntervalRule(13 * 3600)], utc(2024, 5, 1), utc(2024, 5, 10), NEW_YORK)
    assert gaps_s(thirteen) == {13 * 3600}


def test_hours_with_minute_over_a_day() -> None:
    rules = schedule({"field": "hours", "hoursInterval": 6, "triggerAtMinute": 30})
    day = slots_between(rules, utc(2024, 5, 1, 22), utc(2024, 5, 2, 22), BERLIN)  # one Berlin day
    assert walls(day, BERLIN) == [
        "05-02 00:30:00+0200",
        "05-02 06:30:00+0200",
        "05-02 12:30:00+0200",
        "05-02 18:30:00+0200",
    ]


def test_days_interval_counts_days_from_the_epoch() -> None:
    rules = schedule({"field": "days", "daysInterval": 2, "triggerAtHour": 8})
    fires = slots_between(rules, utc(2024, 5, 1), utc(2024, 5, 11), "UTC")
    assert len(fires) == 5
    assert all((t.date() - datetime(1970, 1, 1).date()).days % 2 == 0 and t.hour == 8 for t in fires)
    assert gaps_s(fires) == {2 * 86400}


def test_weeks_interval_fires_on_the_days_of_every_other_week() -> None:
    rules = schedule({"field": "weeks", "weeksInterval": 2, "triggerAtDay": [1, 5], "triggerAtHour": 9})
    # four Sunday-start weeks; the one from Sunday 04-28 is week 2834 since Sunday 1970-01-04: even
    fires = slots_between(rules, utc(2024, 4, 27, 22), utc(2024, 5, 25, 22), BERLIN)
    assert walls(fires, BERLIN) == [
        "04-29 09:00:00+0200",
        "05-03 09:00:00+0200",
        "05-13 09:00:00+0200",
        "05-17 09:00:00+0200",
    ]
    weekly = schedule({"field": "weeks", "triggerAtDay": [0, 3]})
    assert len(slots_between(weekly, utc(2024, 4, 28), utc(2024, 5, 26), "UTC")) == 8


def test_months_interval_and_short_months() -> None:
    quarterly = schedule(
        {"field": "months", "monthsInterval": 3, "triggerAtDayOfMonth": 15, "triggerAtHour": 9}
    )
    year = slots_between(quarterly, utc(2024, 1, 1), utc(2025, 1, 1), NEW_YORK)
    assert walls(year, NEW_YORK) == [
        "01-15 09:00:00-0500",
        "04-15 09:00:00-0400",
        "07-15 09:00:00-0400",
        "10-15 09:00:00-0400",
    ]
    # cron semantics, as in n8n: day 31 fires only in months that have one
    on_31st = schedule({"field": "months", "triggerAtDayOfMonth": 31})
    assert [t.month for t in slots_between(on_31st, utc(2024, 1, 1), utc(2025, 1, 1), "UTC")] == [
        1,
        3,
        5,
        7,
        8,
        10,
        12,
    ]


def test_cron_with_seconds() -> None:
    rule = CronRule.parse("30 8 4 * * *")
    assert next_fire(rule, utc(2024, 5, 1), BERLIN) == utc(2024, 5, 1, 2, 8, 30)
    ticks = slots_between([CronRule.parse("*/15 * * * * *")], utc(2024, 5, 1), utc(2024, 5, 1, 0, 1), BERLIN)
    assert len(ticks) == 4


# --- daylight saving time -------------------------------------------------------------------------
# Berlin 2024: 03-31 02:00 CET -> 03:00 CEST; 10-27 03:00 CEST -> 02:00 CET
# New York 2024: 03-10 02:00 EST -> 03:00 EDT; 11-03 02:00 EDT -> 01:00 EST
def test_daily_time_skipped_by_spring_forward_fires_once_after_the_gap() -> None:
    daily = schedule({"triggerAtHour": 2, "triggerAtMinute": 30})
    assert walls(slots_between(daily, utc(2024, 3, 30), utc(2024, 4, 2), BERLIN), BERLIN) == [
        "03-30 02:30:00+0100",
        "03-31 03:00:00+0200",
        "04-01 02:30:00+0200",
    ]
    assert walls(slots_between(daily, utc(2024, 3, 9), utc(2024, 3, 12), NEW_YORK), NEW_YORK) == [
        "03-09 02:30:00-0500",
        "03-10 03:00:00-0400",
        "03-11 02:30:00-0400",
    ]


def test_daily_time_repeated_by_fall_back_fires_once() -> None:
    # croniter fires "30 2 * * *" twice here, and so does cronsim given the six-field form
    for rules in ([CronRule.parse("30 2 * * *")], schedule({"triggerAtHour": 2, "triggerAtMinute": 30})):
        assert walls(slots_between(rules, utc(2024, 10, 26), utc(2024, 10, 29), BERLIN), BERLIN) == [
            "10-26 02:30:00+0200",
            "10-27 02:30:00+0200",
            "10-28 02:30:00+0100",
        ]
    ny = schedule({"triggerAtHour": 1, "triggerAtMinute": 30})
    assert walls(slots_between(ny, utc(2024, 11, 3), utc(2024, 11, 4), NEW_YORK), NEW_YORK) == [
        "11-03 01:30:00-0400"
    ]


def test_daily_time_with_seconds_across_both_transitions() -> None:
    rule = CronRule.parse("15 30 2 * * *")
    spring = slots_between([rule], utc(2024, 3, 30, 12), utc(2024, 3, 31, 12), BERLIN)
    fall = slots_between([rule], utc(2024, 10, 26, 12), utc(2024, 10, 27, 12), BERLIN)
    assert walls(spring, BERLIN) == ["03-31 03:00:15+0200"]
    assert walls(fall, BERLIN) == ["10-27 02:30:15+0200"]


def test_next_fire_from_the_second_pass_of_a_repeated_hour() -> None:
    daily = schedule({"triggerAtHour": 1, "triggerAtMinute": 30})[0]
    second_pass = utc(2024, 11, 3, 6, 10)  # 01:10 EST, after 01:30 EDT already fired
    assert walls([next_fire(daily, second_pass, NEW_YORK)], NEW_YORK) == ["11-04 01:30:00-0500"]


def test_hourly_cron_keeps_real_time_over_transitions() -> None:
    hourly = [CronRule.parse("0 * * * *")]
    fall_day = slots_between(hourly, utc(2024, 11, 3, 4), utc(2024, 11, 4, 5), NEW_YORK)  # one NY day
    spring_day = slots_between(hourly, utc(2024, 3, 10, 5), utc(2024, 3, 11, 4), NEW_YORK)
    assert (len(fall_day), len(spring_day)) == (25, 23)
    assert gaps_s(fall_day) == gaps_s(spring_day) == {3600}


@pytest.mark.parametrize(
    ("tz", "spring", "fall"),
    # each start is local midnight of the transition day
    [
        (BERLIN, utc(2024, 3, 30, 23), utc(2024, 10, 26, 22)),
        (NEW_YORK, utc(2024, 3, 10, 5), utc(2024, 11, 3, 4)),
    ],
)
def test_hourly_interval_keeps_real_time_over_transitions(tz: str, spring: datetime, fall: datetime) -> None:
    rules = schedule({"field": "hours", "triggerAtMinute": 30})
    spring_day = slots_between(rules, spring, spring + timedelta(hours=23), tz)
    fall_day = slots_between(rules, fall, fall + timedelta(hours=25), tz)
    assert (len(spring_day), len(fall_day)) == (23, 25)
    assert gaps_s(spring_day) == gaps_s(fall_day) == {3600}
    # the repeated half hour fires in both passes, the skipped one in neither
    fall_walls = [w[6:11] for w in walls(fall_day, tz)]
    repeated = "02:30" if tz == BERLIN else "01:30"
    assert fall_walls.count(repeated) == 2
    assert "02:30" not in [w[6:11] for w in walls(spring_day, tz)]


def test_quarter_hours_keep_real_time_over_transitions() -> None:
    rule = [IntervalRule(900)]
    fall = slots_between(rule, utc(2024, 11, 3, 4), utc(2024, 11, 3, 8), NEW_YORK)
    spring = slots_between(rule, utc(2024, 3, 10, 5), utc(2024, 3, 10, 9), NEW_YORK)
    assert len(fall) == len(spring) == 16
    assert gaps_s(fall) == gaps_s(spring) == {900}


def test_long_intervals_fire_each_wall_slot_once() -> None:
    # every 2 hours: 02:00 is repeated on fall-back day, it fires at its first occurrence only
    two_hours = slots_between([IntervalRule(7200)], utc(2024, 10, 26, 22), utc(2024, 10, 27, 3), BERLIN)
    assert walls(two_hours, BERLIN) == ["10-27 02:00:00+0200", "10-27 04:00:00+0100"]
    # every 13 hours: the 02:00 slot falls in the spring gap and fires right after it
    thirteen = slots_between([IntervalRule(13 * 3600)], utc(2024, 3, 30, 11), utc(2024, 3, 31, 15), BERLIN)
    assert walls(thirteen, BERLIN) == ["03-30 13:00:00+0100", "03-31 03:00:00+0200", "03-31 15:00:00+0200"]


def test_days_interval_across_spring_forward() -> None:
    # 2024-03-10 is day 19792 since the epoch: even, so the every-other-day rule fires on it
    rules = schedule({"field": "days", "daysInterval": 2, "triggerAtHour": 2, "triggerAtMinute": 30})
    fires = walls(slots_between(rules, utc(2024, 3, 8), utc(2024, 3, 15), NEW_YORK), NEW_YORK)
    assert fires == [
        "03-08 02:30:00-0500",
        "03-10 03:00:00-0400",
        "03-12 02:30:00-0400",
        "03-14 02:30:00-0400",
    ]


TIMEZONES = [BERLIN, NEW_YORK, KOLKATA, "Australia/Lord_Howe", "UTC"]
RULES: list[Rule] = [
    IntervalRule(60),
    IntervalRule(900),
    IntervalRule(420),
    IntervalRule(3600, 1800),
    IntervalRule(7200),
    IntervalRule(13 * 3600),
    IntervalRule(45, wall_clock=False),
    CronRule.parse("30 2 * * *"),
    CronRule.parse("*/20 * * * *"),
    CronRule("0 0 9 * * 1,5", 2, "week"),
]


# UTC instants of the 2024 transitions in Berlin, New York and Lord Howe (a 30-minute shift)
TRANSITIONS = [utc(2024, 3, 31, 1), utc(2024, 10, 27, 1), utc(2024, 3, 10, 7), utc(2024, 11, 3, 6)]
TRANSITIONS += [utc(2024, 4, 6, 15), utc(2024, 10, 5, 15, 30)]
NEAR_TRANSITIONS = st.builds(
    lambda t, s: t + timedelta(seconds=s), st.sampled_from(TRANSITIONS), st.integers(-5 * 3600, 5 * 3600)
)
ANY_TIME = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=400, deadline=None)
@given(
    rule=st.sampled_from(RULES), tz=st.sampled_from(TIMEZONES), after=st.one_of(NEAR_TRANSITIONS, ANY_TIME)
)
def test_next_fire_is_the_first_slot_after(rule: Rule, tz: str, after: datetime) -> None:
    fire = next_fire(rule, after, tz)
    assert fire > after and fire.microsecond == 0
    assert slots_between([rule], after, fire, tz) == [fire]


# --- several rules, slot keys, agreement ----------------------------------------------------------
def test_slots_between_merges_rules_over_a_day() -> None:
    rules = schedule(
        {"field": "hours", "hoursInterval": 6},
        {"triggerAtHour": 6},
        {"field": "cronExpression", "expression": "0 12 * * *"},
        {"triggerAtHour": 7, "triggerAtMinute": 15},
    )
    day = (utc(2024, 6, 30, 21, 30), utc(2024, 7, 1, 21, 30))
    assert walls(slots_between(rules, *day, BERLIN), BERLIN) == [
        "07-01 00:00:00+0200",
        "07-01 06:00:00+0200",
        "07-01 07:15:00+0200",
        "07-01 12:00:00+0200",
        "07-01 18:00:00+0200",
    ]
    assert [f.rule_index for f in fires_between(rules, *day, BERLIN)] == [0, 0, 3, 0, 0]
    assert slots_between(rules, day[1], day[0], BERLIN) == []


def test_slot_key_is_the_utc_instant() -> None:
    at = utc(2024, 3, 31, 1)
    assert slot_key(0, at) == "0@2024-03-31T01:00:00Z"
    assert slot_key(0, at.astimezone(ZoneInfo(BERLIN))) == slot_key(0, at)
    assert Fire(at, 2).key == "2@2024-03-31T01:00:00Z"


def test_independent_computations_agree_on_slot_keys() -> None:
    def params() -> dict[str, Any]:  # each scheduler parses its own copy
        return {
            "rule": {
                "interval": [
                    {"field": "minutes", "minutesInterval": 20},
                    {"triggerAtHour": 2, "triggerAtMinute": 30},
                ]
            }
        }

    start, end = utc(2024, 10, 26, 20), utc(2024, 10, 27, 4)  # over Berlin's fall back
    # scheduler A: one window query
    fires_a = fires_between(rules_for(ST, params()), start, end, BERLIN)
    # scheduler B: its own rules, walking next_fire from a later, odd start
    rules_b = rules_for(ST, params())
    cursor = origin = start + timedelta(minutes=7, seconds=3)
    keys_b: list[str] = []
    while (fire := min(next_fire(rule, cursor, BERLIN) for rule in rules_b)) <= end:
        index = min(i for i, rule in enumerate(rules_b) if next_fire(rule, cursor, BERLIN) == fire)
        keys_b.append(slot_key(index, fire))
        cursor = fire
    assert keys_b == [f.key for f in fires_a if f.at > origin]
    assert "1@2024-10-27T00:30:00Z" in keys_b and len(fires_a) == 8 * 3 + 1


# --- misfires -------------------------------------------------------------------------------------
QUARTER = [IntervalRule(900)]


def test_skip_drops_missed_slots() -> None:
    assert due_after_downtime(QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 11, 7), "UTC", "skip") == []
    # with a grace period a slot that is only just due still fires
    due = due_after_downtime(QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 11, 7), "UTC", "skip", grace_s=600)
    assert due == [Fire(utc(2024, 5, 1, 11), 0)]


def test_fire_once_collapses_missed_slots_into_the_latest() -> None:
    due = due_after_downtime(QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 11, 7), "UTC", "fireOnce")
    assert due == [Fire(utc(2024, 5, 1, 11), 0)]
    with_grace = due_after_downtime(
        QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 11, 7), "UTC", "fireOnce", grace_s=600
    )
    assert with_grace == [Fire(utc(2024, 5, 1, 10, 45), 0), Fire(utc(2024, 5, 1, 11), 0)]
    daily = schedule({"triggerAtHour": 9})
    week_away = due_after_downtime(daily, utc(2024, 5, 1), utc(2024, 5, 8, 12), BERLIN, "fireOnce")
    assert walls([f.at for f in week_away], BERLIN) == ["05-08 09:00:00+0200"]


def test_nothing_missed_nothing_due() -> None:
    for policy in ("skip", "fireOnce"):
        assert due_after_downtime(QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 10, 10), "UTC", policy) == []
        assert due_after_downtime(QUARTER, None, utc(2024, 5, 1, 10, 10), "UTC", policy) == []
        assert due_after_downtime(QUARTER, utc(2024, 5, 1, 11), utc(2024, 5, 1, 10), "UTC", policy) == []
    yearly = [CronRule.parse("0 0 1 1 *")]
    assert due_after_downtime(yearly, utc(2024, 1, 2), utc(2024, 12, 30), "UTC", "fireOnce") == []
    assert due_after_downtime(yearly, utc(2020, 1, 2), utc(2024, 12, 30), "UTC", "fireOnce") == [
        Fire(utc(2024, 1, 1), 0)
    ]


def test_schedulers_catching_up_together_agree() -> None:
    a = due_after_downtime(QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 11, 7), "UTC", "fireOnce")
    b = due_after_downtime(QUARTER, utc(2024, 5, 1, 10), utc(2024, 5, 1, 11, 7, 5), "UTC", "fireOnce")
    assert [f.key for f in a] == [f.key for f in b] == ["0@2024-05-01T11:00:00Z"]
