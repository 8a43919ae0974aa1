"""The scheduler: runs the active workflows' Schedule Trigger and Cron nodes.

Every ``refresh_s`` it rebuilds its schedules from the active workflows (enabled schedule nodes
whose parameters hold no expression; the workflow's ``settings.timezone``, UTC by default; only
workflows saved since the last refresh are parsed again) and keeps the next fire of each
(workflow, node) on a heap. It sleeps on the injected clock until the next event or refresh
(``wake`` cuts the sleep short). Events:

- claim: the slots due within ``claim_ahead_s`` are claimed in the ``FiredSlotStore``, in one
  batch; only the claimer that wins a slot fires it, so any number of schedulers can share one
  store and every slot fires once. Claiming ahead keeps the database round trip out of the
  slot's lateness (S9: 1,000 slots in the same second).
- start: at its time, each won slot starts an execution as a background task, if its workflow is
  still active. A claimed slot always fires: ``run`` starts the remaining ones (at most
  ``claim_ahead_s`` away) before it returns; a crash in between loses them.

A periodic refresh waits while an event is less than ``QUIET_S`` away, so it never delays one.

Polling triggers (``relayflow.triggers.polling``): a node whose spec has ``poll`` is scheduled by
its ``pollTimes``; its slots are claimed like any other, and at its slot the ``Poller`` polls and
starts an execution only when the poll found new items.

Misfires: a schedule seen for the first time (server start, re-activation) asks ``last_fired``
and ``due_after_downtime``: policy ``skip`` fires only future slots, ``fireOnce`` fires one
catch-up for the slots missed since the last fire.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from relayflow.engine.executor import Engine
from relayflow.engine.memory import SystemClock
from relayflow.engine.params import is_expression
from relayflow.engine.ports import Clock
from relayflow.errors import InputInvalid, RelayflowError
from relayflow.nodes.registry import default_registry
from relayflow.store.common import utc
from relayflow.store.ports import FiredSlotStore, StoredWorkflow, WorkflowQuery, WorkflowStore
from relayflow.triggers.polling import Poller, PollTarget, poll_target, poll_times_of, polls
from relayflow.triggers.schedule import (
    Fire,
    Policy,
    Rule,
    due_after_downtime,
    next_fire,
    poll_rules,
    rules_for,
    zone,
)
from relayflow.triggers.schedule.rules import CRON_TYPES, SCHEDULE_TYPES
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow

log = logging.getLogger("relayflow.scheduler")

DEFAULT_REFRESH_S = 5.0
# slots are claimed this long before they are due, so the claim's round trip to the database
# is not part of their lateness
DEFAULT_CLAIM_AHEAD_S = 1.0
# a periodic refresh (it reads every active workflow) waits while a claim or a start is this close
QUIET_S = 0.5
Key = tuple[str, str]  # (workflow id, node name)


@dataclass(frozen=True)
class SchedulerSettings:
    refresh_s: float = DEFAULT_REFRESH_S
    misfire: Policy = "skip"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SchedulerSettings:
        """RELAYFLOW_SCHEDULER_REFRESH_S and RELAYFLOW_SCHEDULE_MISFIRE; InputInvalid if bad."""
        env = os.environ if env is None else env
        raw = env.get("RELAYFLOW_SCHEDULER_REFRESH_S", str(DEFAULT_REFRESH_S))
        try:
            refresh_s = float(raw)
        except ValueError:
            refresh_s = math.nan
        if not 0 < refresh_s < math.inf:
            raise InputInvalid(f"RELAYFLOW_SCHEDULER_REFRESH_S must be seconds > 0, not {raw!r}")
        misfire = env.get("RELAYFLOW_SCHEDULE_MISFIRE", "skip")
        if misfire not in ("skip", "fireOnce"):
            raise InputInvalid(f"RELAYFLOW_SCHEDULE_MISFIRE must be 'skip' or 'fireOnce', not {misfire!r}")
        return cls(refresh_s=refresh_s, misfire=cast(Policy, misfire))


@dataclass(frozen=True)
class Schedule:
    """One schedule node of one active workflow, as saved in ``version``."""

    workflow: Workflow
    workflow_id: str
    node: str
    rules: tuple[Rule, ...]
    tz: str
    version: str
    # a polling trigger: poll at each slot, run only with new items
    poll: PollTarget | None = field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.workflow_id, self.node)

    def next_after(self, after: datetime) -> Fire:
        """The first fire strictly after ``after``; the lowest rule wins a tie."""
        return _next_after(self.rules, self.tz, after)


@lru_cache(maxsize=1024)
def _next_after(rules: tuple[Rule, ...], tz: str, after: datetime) -> Fire:
    # memoized: schedules with the same rules, due together, share one computation
    return min(Fire(next_fire(rule, after, tz), i) for i, rule in enumerate(rules))


def schedules_of(stored: StoredWorkflow, registry: Any = None) -> list[Schedule]:
    """The schedules of a stored workflow; nodes that cannot be scheduled are logged and skipped."""
    try:
        wf = parse_workflow(stored.data, source=f"workflow {stored.id}", registry=registry)
    except RelayflowError as exc:
        log.warning("workflow %s is not scheduled: %s", stored.id, exc)
        return []
    tz = wf.settings.timezone or "UTC"
    found = []
    for node in wf.nodes:
        if node.disabled:
            continue
        polling = node.type not in SCHEDULE_TYPES | CRON_TYPES
        if polling and not polls(node, registry or default_registry()):
            continue
        if _has_expression(node.parameters):
            log.warning(
                "workflow %s node %r: schedule parameters cannot be expressions", stored.id, node.name
            )
            continue
        try:
            zone(tz)
            poll = poll_target(node, registry or default_registry()) if polling else None
            if poll is not None:
                rules = tuple(poll_rules(poll_times_of(node)))
            else:
                rules = tuple(rules_for(node.type, node.parameters))
        except RelayflowError as exc:
            log.warning("workflow %s node %r is not scheduled: %s", stored.id, node.name, exc)
            continue
        if rules:
            found.append(Schedule(wf, stored.id, node.name, rules, tz, stored.version_id, poll))
    return found


def _has_expression(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return is_expression(value)


@lru_cache(maxsize=256)
def _trigger_json(at: datetime, tz: str) -> dict[str, Any]:
    return trigger_item(at, tz)


def trigger_item(at: datetime, tz: str) -> dict[str, Any]:
    """What n8n's Schedule Trigger emits for a fire at ``at`` in timezone ``tz``."""
    local = utc(at).astimezone(zone(tz))
    hour12 = local.strftime("%I").lstrip("0") or "12"
    readable_time = f"{hour12}:{local:%M:%S} {local:%p}".lower()
    offset = local.strftime("%z")
    return {
        "timestamp": local.isoformat(timespec="milliseconds"),
        "Readable date": f"{local:%B} {_ordinal(local.day)} {local.year}, {readable_time}",
        "Readable time": readable_time,
        "Day of week": f"{local:%A}",
        "Year": f"{local.year:04d}",
        "Month": f"{local:%B}",
        "Day of month": f"{local.day:02d}",
        "Hour": f"{local.hour:02d}",
        "Minute": f"{local.minute:02d}",
        "Second": f"{local.second:02d}",
        "Timezone": f"{tz} (UTC{offset[:3]}:{offset[3:]})",
    }


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


@dataclass
class _State:
    schedules: dict[Key, Schedule] = field(default_factory=dict)
    next: dict[Key, Fire] = field(default_factory=dict)
    heap: list[tuple[datetime, Key]] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        workflows: WorkflowStore,
        slots: FiredSlotStore,
        engine: Engine,
        *,
        clock: Clock | None = None,
        refresh_s: float = DEFAULT_REFRESH_S,
        misfire: Policy = "skip",
        claim_ahead_s: float = DEFAULT_CLAIM_AHEAD_S,
    ) -> None:
        if not refresh_s > 0:
            raise InputInvalid("the scheduler's refresh interval must be > 0 seconds")
        if not claim_ahead_s >= 0:
            raise InputInvalid("the scheduler's claim lead must be >= 0 seconds")
        self.workflows, self.slots, self.engine = workflows, slots, engine
        self.clock = clock or SystemClock()
        self.refresh_s, self.misfire, self.claim_ahead_s = refresh_s, misfire, claim_ahead_s
        self.tasks: set[asyncio.Task[Any]] = set()
        self._state = _State()
        self.poller = Poller(engine)
        # workflow id → (version id, its schedules): a refresh parses only what changed
        self._parsed: dict[str, tuple[str, list[Schedule]]] = {}
        # slots won ahead of time, to start when due: (fire time, tie-breaker, schedule, fire)
        self._claimed: list[tuple[datetime, int, Schedule, Fire]] = []
        self._claims = itertools.count()
        self._refreshed_at: float | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        # the task running ``run``, when the server started one
        self.loop: asyncio.Task[None] | None = None

    @property
    def schedules(self) -> Mapping[Key, Schedule]:
        return self._state.schedules

    def next_fire_at(self, workflow_id: str, node: str) -> datetime | None:
        """The next slot of (workflow, node) not claimed yet."""
        fire = self._state.next.get((workflow_id, node))
        return fire.at if fire else None

    # --- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Refresh and fire until ``stop``; then start the slots already claimed, when due."""
        while not self._stopping:
            await self.step()
            await self._sleep(self._sleep_s())
        while self._claimed:  # at most ``claim_ahead_s`` away: a claimed slot always fires
            await self.clock.sleep(max(0.0, (self._claimed[0][0] - self.clock.now()).total_seconds()))
            self._start_due(self.clock.now())

    async def run_until(self, deadline: datetime) -> None:
        """The loop until the clock reaches ``deadline`` (tests drive a FakeClock with it)."""
        while True:
            await self.step()
            left = (deadline - self.clock.now()).total_seconds()
            if left <= 0 or self._stopping:
                return
            await self._sleep(min(self._sleep_s(), left))

    async def step(self) -> int:
        """Refresh if woken, fire what is due, then refresh if one is due and fire again; how
        many executions started. A periodic refresh goes after firing, so it never delays a slot."""
        if self._wake.is_set() or self._refreshed_at is None:
            await self._refresh_now()
        started = await self.fire_due()
        if self._refresh_wanted():
            await self._refresh_now()
            started += await self.fire_due()
        return started

    async def _refresh_now(self) -> None:
        self._wake.clear()
        self._refreshed_at = self.clock.monotonic()
        await self.refresh()

    def wake(self) -> None:
        """The schedule set changed (a workflow was saved or (de)activated): refresh now."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _refresh_wanted(self) -> bool:
        if self._wake.is_set() or self._refreshed_at is None:
            return True
        overdue = -self._until_refresh()
        # a periodic refresh reads every active workflow: it waits for a gap between fires,
        # unless it is a whole interval late
        return overdue >= 0 and (self._until_event() > QUIET_S or overdue >= self.refresh_s)

    def _until_refresh(self) -> float:
        return (self._refreshed_at or 0.0) + self.refresh_s - self.clock.monotonic()

    def _until_event(self) -> float:
        """Seconds until the next claim (a slot ``claim_ahead_s`` away) or start."""
        now, heap, claimed = self.clock.now(), self._state.heap, self._claimed
        until_claim = (heap[0][0] - now).total_seconds() - self.claim_ahead_s if heap else math.inf
        until_start = (claimed[0][0] - now).total_seconds() if claimed else math.inf
        return min(until_claim, until_start)

    def _sleep_s(self) -> float:
        until_event, until_refresh = self._until_event(), self._until_refresh()
        if until_refresh <= 0:  # postponed by an event close by: right after it
            until_refresh = until_event
        return max(0.0, min(until_refresh, until_event))

    async def _sleep(self, seconds: float) -> None:
        if self._wake.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    # --- schedules -----------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Rebuild the schedules from the active workflows; keep the old set if the store fails."""
        try:
            found = await self._load()
        except Exception:
            log.exception("cannot read the active workflows; keeping the current schedules")
            return
        old, now = self._state, self.clock.now()
        new = _State(schedules=found)
        for key, sched in found.items():
            kept = old.schedules.get(key)
            if kept is not None and kept.version == sched.version and key in old.next:
                new.next[key] = old.next[key]
                continue
            if kept is None:
                await self._catch_up(sched, now)
            new.next[key] = sched.next_after(now)
        new.heap = [(fire.at, key) for key, fire in new.next.items()]
        heapq.heapify(new.heap)
        self._state = new

    async def _load(self) -> dict[Key, Schedule]:
        registry = self.engine.services.registry
        found: dict[Key, Schedule] = {}
        parsed: dict[str, tuple[str, list[Schedule]]] = {}
        cursor: str | None = None
        while True:
            page = await self.workflows.find(WorkflowQuery(active=True, limit=200, cursor=cursor))
            for stored in page.items:
                cached = self._parsed.get(stored.id)
                if cached is None or cached[0] != stored.version_id:
                    cached = (stored.version_id, schedules_of(stored, registry))
                parsed[stored.id] = cached
                found.update((s.key, s) for s in cached[1])
            cursor = page.next_cursor
            if cursor is None:
                self._parsed = parsed
                return found

    async def _catch_up(self, sched: Schedule, now: datetime) -> None:
        if self.misfire == "skip":
            return
        try:
            last = await self.slots.last_fired(sched.workflow_id, sched.node)
        except Exception:
            log.exception("cannot read the last fire of %s %r", sched.workflow_id, sched.node)
            return
        await self._claim(
            [(sched, fire) for fire in due_after_downtime(sched.rules, last, now, sched.tz, self.misfire)]
        )

    # --- firing --------------------------------------------------------------------------------
    async def fire_due(self) -> int:
        """Claim the slots due within ``claim_ahead_s``, start the claimed slots due by now;
        returns how many executions started."""
        state, now = self._state, self.clock.now()
        due: list[tuple[Schedule, Fire]] = []
        horizon = now + timedelta(seconds=self.claim_ahead_s)
        while state.heap and state.heap[0][0] <= horizon:
            _, key = heapq.heappop(state.heap)
            sched, fire = state.schedules[key], state.next[key]
            due.append((sched, fire))
            # a loop that fell behind (a blocked process) does not replay what it slept through
            state.next[key] = sched.next_after(max(fire.at, now))
            heapq.heappush(state.heap, (state.next[key].at, key))
        await self._claim(due)
        return self._start_due(self.clock.now())

    async def _claim(self, due: list[tuple[Schedule, Fire]]) -> None:
        """Claim ``due`` in one batch; the slots won wait in ``_claimed`` for their time."""
        if not due:
            return
        try:
            won = await self.slots.claim_many([(s.workflow_id, s.node, fire.at) for s, fire in due])
        except Exception:
            log.exception("cannot claim %d due slot(s)", len(due))
            return
        for (sched, fire), mine in zip(due, won, strict=True):
            if mine:
                heapq.heappush(self._claimed, (fire.at, next(self._claims), sched, fire))

    def _start_due(self, now: datetime) -> int:
        """Start an execution for each claimed slot due by ``now`` whose workflow is still active."""
        started = 0
        while self._claimed and self._claimed[0][0] <= now:
            _, _, sched, fire = heapq.heappop(self._claimed)
            current = self._state.schedules.get(sched.key)
            if current is None:
                continue  # deactivated since the claim: only active workflows fire
            task = asyncio.create_task(self._execute(current, fire), name=f"schedule {sched.workflow_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1
        return started

    async def _execute(self, sched: Schedule, fire: Fire) -> None:
        items = [{"json": dict(_trigger_json(fire.at, sched.tz))}]
        try:
            if sched.poll is not None:
                await self.poller.fire(sched.workflow, sched.workflow_id, sched.node, sched.poll)
                return
            await self.engine.run(sched.workflow, start_node=sched.node, mode="trigger", input_items=items)
        except Exception:
            log.exception("scheduled run of workflow %s (%r) failed", sched.workflow_id, sched.node)

    async def drain(self, grace_s: float) -> int:
        """Wait up to ``grace_s`` for the started executions, cancel the rest; how many were cancelled."""
        pending = set(self.tasks)
        if pending and grace_s > 0:
            _, pending = await asyncio.wait(pending, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        return len(pending)
