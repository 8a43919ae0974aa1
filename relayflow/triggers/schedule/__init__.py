"""Schedule rules and fire times: pure logic for the scheduler (no database, no event loop).

``rules_for`` turns a Schedule Trigger's or Cron node's parameters into rules (``rules``);
``next_fire``, ``slots_between``, ``fires_between`` and ``due_after_downtime`` say when they fire
in a workflow's timezone, and ``slot_key`` names a slot for the "fires at most once" rule
(``timing``, whose docstring states the DST semantics).
"""

from relayflow.triggers.schedule.rules import CronRule, IntervalRule, Rule, poll_rules, rules_for
from relayflow.triggers.schedule.timing import (
    Fire,
    Policy,
    due_after_downtime,
    fires_between,
    next_fire,
    slot_key,
    slots_between,
    zone,
)

__all__ = [
    "CronRule",
    "Fire",
    "IntervalRule",
    "Policy",
    "Rule",
    "due_after_downtime",
    "fires_between",
    "next_fire",
    "poll_rules",
    "rules_for",
    "slot_key",
    "slots_between",
    "zone",
]
