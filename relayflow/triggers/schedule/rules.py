"""Schedule Trigger and Cron node parameters turned into rules.

A rule is one of two shapes:

- ``CronRule``: a six-field cron expression (seconds first) evaluated in the workflow's
  timezone, optionally keeping only every N-th day, week or month counted from the Unix epoch
  on the local calendar (days since 1970-01-01, Sunday-start weeks since Sunday 1970-01-04,
  months since January 1970). Days, weeks and months rules become cron rules, so a wall-clock
  time fires once per day even on DST days.
- ``IntervalRule``: every N seconds, minutes or hours on a fixed grid. Seconds count from the
  Unix epoch in UTC; minutes and hours count on the local wall clock from 1970-01-01 00:00, so
  "every 15 minutes" fires at :00, :15, :30 and :45 and "every 6 hours at :30" at 00:30, 06:30...
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ValidationError

from relayflow.engine.params import path_text
from relayflow.errors import ParameterInvalid, UnknownNodeType
from relayflow.nodes.triggers import CronParams, CronTime, CronTimes, ScheduleParams, ScheduleRule

Period = Literal["day", "week", "month"]
M = TypeVar("M", bound=BaseModel)

SCHEDULE_TYPES = frozenset({"relayflow.scheduleTrigger", "n8n-nodes-base.scheduleTrigger"})
CRON_TYPES = frozenset({"relayflow.cron", "n8n-nodes-base.cron"})

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# any fixed instant works: construction only parses, and the probe checks the rule ever fires
PROBE_AT = datetime(2000, 1, 1)


@dataclass(frozen=True)
class CronRule:
    """Fires where ``expression`` (six fields, seconds first) matches, on every ``every``-th
    ``per`` (day, week or month) counted from the epoch on the local calendar."""

    expression: str
    every: int = 1
    per: Period = "day"

    def __post_init__(self) -> None:
        if len(self.expression.split()) != 6:
            raise ParameterInvalid("a cron rule needs six fields (seconds first)", field="expression")
        _check_cron(self.expression, self.expression)
        if self.every < 1:
            raise ParameterInvalid("the interval must be at least 1", field="every")

    @classmethod
    def parse(cls, text: str, every: int = 1, per: Period = "day") -> CronRule:
        """A rule from a five-field (minute first) or six-field (seconds first) expression,
        or a macro such as ``@daily``."""
        expr = " ".join(text.split())
        expr = _MACROS.get(expr.lower(), expr)
        fields = expr.split()
        if not fields:
            raise ParameterInvalid("a cron expression is required", field="expression")
        if len(fields) == 5:
            fields.insert(0, "0")
        if len(fields) != 6:
            raise ParameterInvalid(
                f"a cron expression has 5 or 6 fields, not {len(fields)}: {text!r}", field="expression"
            )
        _check_cron(" ".join(fields), text)
        return cls(" ".join(fields), every, per)


@dataclass(frozen=True)
class IntervalRule:
    """Fires every ``every_s`` seconds at ``at_s`` seconds into each period.

    ``wall_clock`` False: the grid counts from the Unix epoch in UTC. True: it counts on the
    local wall clock from 1970-01-01 00:00 (see ``timing`` for what DST does to it)."""

    every_s: int
    at_s: int = 0
    wall_clock: bool = True

    def __post_init__(self) -> None:
        if self.every_s < 1:
            raise ParameterInvalid("the interval must be at least 1 second", field="every_s")
        if not 0 <= self.at_s < self.every_s:
            raise ParameterInvalid("the offset must lie within the interval", field="at_s")


Rule = CronRule | IntervalRule


def _check_cron(expression: str, shown: str) -> None:
    try:
        next(CronSim(expression, PROBE_AT))
    except CronSimError as exc:
        raise ParameterInvalid(f"invalid cron expression {shown!r}: {exc}", field="expression") from None
    except StopIteration:
        raise ParameterInvalid(f"the cron expression {shown!r} never fires", field="expression") from None


def rules_for(node_type: str, params: BaseModel | dict[str, Any]) -> list[Rule]:
    """The rules of a Schedule Trigger or Cron node, from its validated parameters or its raw
    relayflow (= n8n) parameters. Bad parameters raise ``ParameterInvalid`` naming the field."""
    if node_type in SCHEDULE_TYPES:
        schedule = _validated(ScheduleParams, params)
        return [_schedule_rule(r, f"rule.interval[{i}]") for i, r in enumerate(schedule.rule.interval)]
    if node_type in CRON_TYPES:
        cron = _validated(CronParams, params)
        return [_cron_rule(t, f"triggerTimes.item[{i}]") for i, t in enumerate(cron.triggerTimes.item)]
    raise UnknownNodeType(f"{node_type!r} is not a schedule node")


def poll_rules(poll_times: BaseModel | dict[str, Any] | None) -> list[Rule]:
    """The rules of a polling trigger's ``pollTimes`` parameter: the items of n8n's Cron
    ``triggerTimes`` (everyMinute, everyHour, everyX, custom...). n8n's default when the
    parameter is absent: every minute."""
    if poll_times is None:
        return [CronRule("0 * * * * *")]
    times = _validated(CronTimes, poll_times)
    return [_cron_rule(t, f"pollTimes.item[{i}]") for i, t in enumerate(times.item)]


def _validated(model: type[M], params: BaseModel | dict[str, Any]) -> M:
    if isinstance(params, model):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else params
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "parameters." + path_text(tuple(err["loc"]))
        raise ParameterInvalid(err["msg"], field=field) from None


def _parsed(text: str, path: str) -> CronRule:
    """``CronRule.parse``, naming the parameter at ``path`` when the expression is invalid."""
    try:
        return CronRule.parse(text)
    except ParameterInvalid as exc:
        raise ParameterInvalid(exc.message, field=f"parameters.{path}") from None


def _schedule_rule(rule: ScheduleRule, path: str) -> Rule:
    hour, minute = rule.triggerAtHour, rule.triggerAtMinute
    match rule.field:
        case "seconds":
            return IntervalRule(rule.secondsInterval, wall_clock=False)
        case "minutes":
            return IntervalRule(60 * rule.minutesInterval)
        case "hours":
            return IntervalRule(3600 * rule.hoursInterval, at_s=60 * minute)
        case "days":
            return CronRule(f"0 {minute} {hour} * * *", rule.daysInterval, "day")
        case "weeks":
            days = _weekdays(rule.triggerAtDay, f"{path}.triggerAtDay")
            return CronRule(f"0 {minute} {hour} * * {days}", rule.weeksInterval, "week")
        case "months":
            dom = rule.triggerAtDayOfMonth
            return CronRule(f"0 {minute} {hour} {dom} * *", rule.monthsInterval, "month")
        case "cronExpression":
            return _parsed(rule.expression, f"{path}.expression")


def _weekdays(days: list[int], path: str) -> str:
    # n8n's editor defaults the list to Sunday, and its exports leave defaults out
    picked = sorted({0 if d == 7 else d for d in days} or {0})
    if picked[0] < 0 or picked[-1] > 6:
        raise ParameterInvalid("weekdays run from 0 (Sunday) to 6 (Saturday)", field=f"parameters.{path}")
    return ",".join(str(d) for d in picked)


def _cron_rule(time: CronTime, path: str) -> Rule:
    hour, minute = time.hour, time.minute
    match time.mode:
        case "everyMinute":
            return CronRule("0 * * * * *")
        case "everyHour":
            return CronRule(f"0 {minute} * * * *")
        case "everyDay":
            return CronRule(f"0 {minute} {hour} * * *")
        case "everyWeek":
            weekday = _weekdays([_int(time.weekday, f"{path}.weekday")], f"{path}.weekday")
            return CronRule(f"0 {minute} {hour} * * {weekday}")
        case "everyMonth":
            return CronRule(f"0 {minute} {hour} {time.dayOfMonth} * *")
        case "everyX":
            return IntervalRule(time.value * (60 if time.unit == "minutes" else 3600))
        case "custom":
            return _parsed(time.cronExpression, f"{path}.cronExpression")


def _int(value: str | int, path: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParameterInvalid(f"not a weekday number: {value!r}", field=f"parameters.{path}") from None
