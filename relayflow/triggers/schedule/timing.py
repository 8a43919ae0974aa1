"""When rules fire: the next fire, the fires in a window, catch-up after downtime, slot keys.

Every result is an aware UTC datetime on a whole second, and a pure function of its inputs, so
several schedulers computing the same slot get the same key.

Daylight saving time:

- Cron rules follow cronsim (Debian cron). When the minute and hour fields are both fixed
  (``0 30 2 * * *``) the expression is matched on the local wall clock: a time the clock skips
  (spring forward) fires once, at the first minute after the gap; a time the clock repeats
  (fall back) fires once, at its first occurrence. Otherwise (``0 */5 * * * *``,
  ``0 0 * * * *``) it is matched in real time: a repeated hour fires again, a skipped one does not.
- Wall-clock interval rules: when the period is at most the DST shift (hourly or faster with a
  one-hour shift) the grid keeps real time: skipped slots are dropped, repeated slots fire in both
  passes, so fires stay one period apart. Longer periods behave like a time of day: a skipped
  slot fires right after the gap (shifted by it), a repeated one once, at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim

from relayflow.errors import InputInvalid, ParameterInvalid
from relayflow.triggers.schedule.rules import PROBE_AT, CronRule, IntervalRule, Rule

Policy = Literal["skip", "fireOnce"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_DAY_S = 86_400
# wider than any DST shift: how far a wall-clock slot can sit from its instant's neighbours
_MARGIN = timedelta(hours=3)
_MARGIN_S = 3 * 3600
_FIRST_SUNDAY = date(1970, 1, 4)


@dataclass(frozen=True, order=True)
class Fire:
    """One slot: when it fires and the (lowest) rule that produced it."""

    at: datetime
    rule_index: int

    @property
    def key(self) -> str:
        return slot_key(self.rule_index, self.at)


@lru_cache(maxsize=512)
def zone(tz: str) -> ZoneInfo:
    """The IANA timezone ``tz``; an unknown name raises ``ParameterInvalid``."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterInvalid(f"unknown timezone {tz!r}", field="settings.timezone") from None


def slot_key(rule_index: int, fire_time: datetime) -> str:
    """A stable text key for a slot, e.g. ``0@2024-03-31T01:00:00Z`` (seconds precision)."""
    at = _utc(fire_time, "fire_time")
    return f"{rule_index}@{at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def next_fire(rule: Rule, after: datetime, tz: str) -> datetime:
    """The first time ``rule`` fires strictly after ``after``, in UTC."""
    after, z = _utc(after, "after"), zone(tz)
    if isinstance(rule, IntervalRule):
        return _next_interval(rule, after, z)
    for at in _cron_times(rule, after, z):
        return at
    raise ParameterInvalid(f"the cron expression {rule.expression!r} never fires", field="expression")


def fires_between(rules: Sequence[Rule], start: datetime, end: datetime, tz: str) -> list[Fire]:
    """The fires in ``(start, end]``, ascending. Rules that fire at the same instant give one
    fire, credited to the lowest rule index."""
    start, end, z = _utc(start, "start"), _utc(end, "end"), zone(tz)
    first_rule: dict[datetime, int] = {}
    for index, rule in enumerate(rules):
        for at in _times_between(rule, start, end, z):
            first_rule.setdefault(at, index)
    return [Fire(at, index) for at, index in sorted(first_rule.items())]


def slots_between(rules: Sequence[Rule], start: datetime, end: datetime, tz: str) -> list[datetime]:
    """The fire times in ``(start, end]``, sorted and deduplicated."""
    return [fire.at for fire in fires_between(rules, start, end, tz)]


def due_after_downtime(
    rules: Sequence[Rule],
    last_fired: datetime | None,
    now: datetime,
    tz: str,
    policy: Policy,
    grace_s: float = 0.0,
) -> list[Fire]:
    """What to fire now, when the scheduler last fired at ``last_fired``.

    Slots in ``(now - grace_s, now]`` are on time and always fire. Older slots after
    ``last_fired`` were missed: ``skip`` drops them (the next slot comes from ``next_fire``),
    ``fireOnce`` collapses them into one fire keyed by the latest missed slot, so schedulers
    that catch up at the same time agree on its key. ``last_fired`` None: nothing was missed.
    """
    if policy not in ("skip", "fireOnce"):
        raise InputInvalid(f"unknown misfire policy {policy!r}: use 'skip' or 'fireOnce'")
    if last_fired is None:
        return []
    last_fired, now = _utc(last_fired, "last_fired"), _utc(now, "now")
    cutoff = max(last_fired, now - timedelta(seconds=grace_s))
    on_time = fires_between(rules, cutoff, now, tz)
    if policy == "skip" or cutoff <= last_fired:
        return on_time
    missed = _latest_fire(rules, last_fired, cutoff, tz)
    return ([missed] if missed else []) + on_time


def _latest_fire(rules: Sequence[Rule], after: datetime, until: datetime, tz: str) -> Fire | None:
    """The last fire in ``(after, until]``: look back through widening windows."""
    width = timedelta(minutes=5)
    while True:
        lo = max(after, until - width)
        fires = fires_between(rules, lo, until, tz)
        if fires:
            return fires[-1]
        if lo <= after:
            return None
        width *= 4


# --- helpers -----------------------------------------------------------------------------------
def _utc(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return dt.astimezone(UTC)


def _epoch_s(dt: datetime) -> int:
    return (dt - EPOCH) // _SECOND


def _wall_s(dt: datetime, z: ZoneInfo) -> int:
    return (dt.astimezone(z).replace(tzinfo=None) - _NAIVE_EPOCH) // _SECOND


def _at(epoch_s: int) -> datetime:
    return EPOCH + timedelta(seconds=epoch_s)


def _grid_after(s: int, rule: IntervalRule) -> int:
    """The first grid point strictly after ``s`` (seconds on the rule's grid)."""
    return ((s - rule.at_s) // rule.every_s + 1) * rule.every_s + rule.at_s


def _times_between(rule: Rule, start: datetime, end: datetime, z: ZoneInfo) -> Iterator[datetime]:
    if end <= start:
        return
    if isinstance(rule, CronRule):
        for at in _cron_times(rule, start, z):
            if at > end:
                return
            yield at
    elif rule.wall_clock:
        yield from _wall_slots(rule, z, start, end)
    else:
        yield from map(_at, range(_grid_after(_epoch_s(start), rule), _epoch_s(end) + 1, rule.every_s))


# --- cron rules --------------------------------------------------------------------------------
def _cron_times(rule: CronRule, after: datetime, z: ZoneInfo) -> Iterator[datetime]:
    """Fire times strictly after ``after``, ascending (equal neighbours are possible)."""
    _, minute, hour, _ = rule.expression.split(maxsplit=3)
    local = after.astimezone(z)
    stamps: Iterator[datetime]
    if minute.startswith("*") or hour.startswith("*"):
        # real time: cronsim ticks in UTC, a repeated hour fires again
        stamps = CronSim(rule.expression, local)
    else:
        # a fixed time of day: the five-field form gets cronsim's wall-clock DST handling
        seconds = sorted(CronSim(rule.expression, PROBE_AT).seconds)
        minutes = CronSim(rule.expression.split(maxsplit=1)[1], local - timedelta(minutes=1))
        stamps = (m + timedelta(seconds=s) for m in minutes for s in seconds)
    for stamp in stamps:
        at = stamp.astimezone(UTC)
        # the guard also skips a first-pass time met again while `after` is in the second pass
        if at > after and _in_period(rule, stamp.date()):
            yield at


def _in_period(rule: CronRule, day: date) -> bool:
    if rule.every == 1:
        return True
    if rule.per == "day":
        n = (day - EPOCH.date()).days
    elif rule.per == "week":
        n = (day - _FIRST_SUNDAY).days // 7
    else:
        n = (day.year - 1970) * 12 + day.month - 1
    return n % rule.every == 0


# --- wall-clock interval rules -----------------------------------------------------------------
def _next_interval(rule: IntervalRule, after: datetime, z: ZoneInfo) -> datetime:
    if not rule.wall_clock:
        return _at(_grid_after(_epoch_s(after), rule))
    steady = _next_wall_steady(rule, after, z)
    if steady is not None:
        return steady
    return _wall_slots(rule, z, after, after + timedelta(seconds=rule.every_s) + _MARGIN)[0]


def _next_wall_steady(rule: IntervalRule, after: datetime, z: ZoneInfo) -> datetime | None:
    """Plain arithmetic when the UTC offset holds across the search window (no DST change)."""
    if rule.every_s > _DAY_S:
        return None
    offset = after.astimezone(z).utcoffset()
    edges = (after - _MARGIN, after + timedelta(seconds=rule.every_s) + _MARGIN)
    if offset is None or any(edge.astimezone(z).utcoffset() != offset for edge in edges):
        return None
    offset_s = offset // _SECOND
    return _at(_grid_after(_epoch_s(after) + offset_s, rule) - offset_s)


def _wall_slots(rule: IntervalRule, z: ZoneInfo, lo: datetime, hi: datetime) -> list[datetime]:
    """The rule's fire times in ``(lo, hi]``, sorted: walk the wall-clock grid around them."""
    first = _grid_after(_wall_s(lo, z) - _MARGIN_S - 1, rule)
    found: set[datetime] = set()
    for wall in range(first, _wall_s(hi, z) + _MARGIN_S + 1, rule.every_s):
        for at in _wall_instants(_NAIVE_EPOCH + timedelta(seconds=wall), z, rule.every_s):
            if lo < at <= hi:
                found.add(at)
    return sorted(found)


def _wall_instants(wall: datetime, z: ZoneInfo, every_s: int) -> list[datetime]:
    """The instants at which the naive local time ``wall`` fires (see the module docstring)."""
    early = wall.replace(tzinfo=z, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=z, fold=1).astimezone(UTC)
    if early == late:
        return [early]
    first, second = sorted((early, late))
    shift_s = (second - first) // _SECOND
    if first.astimezone(z).replace(tzinfo=None) == wall:
        # the clock shows this time twice (fall back)
        return [first, second] if every_s <= shift_s else [first]
    # the clock skips this time (spring forward); `second` is the same time read after the gap
    return [] if every_s <= shift_s else [second]
