"""``EventHub``: the in-process fan-out of the engine's live events.

Each subscriber has a bounded queue: when it is full the oldest event is dropped, and the
subscriber's next read is a ``lagged`` notice saying how many it missed, so a slow client never
grows memory. The hub also keeps the recent events of each running execution (bounded), so a
client that subscribes just after ``POST /workflows/{id}/run`` answered still sees the execution
from its start.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STARTED = "execution.started"
FINISHED = "execution.finished"
WAITING = "execution.waiting"
LAGGED = "lagged"


@dataclass(frozen=True)
class Event:
    name: str
    data: Mapping[str, Any]

    @property
    def execution_id(self) -> str | None:
        value = self.data.get("executionId")
        return None if value is None else str(value)


class Subscription:
    """One subscriber's bounded queue of events (of one execution, or of all of them)."""

    def __init__(self, execution_id: str | None, limit: int) -> None:
        self.execution_id = execution_id
        self._queue: deque[Event] = deque(maxlen=limit)
        self._ready = asyncio.Event()
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        return self.execution_id is None or event.execution_id == self.execution_id

    def put(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1  # the deque drops the oldest event itself
        self._queue.append(event)
        self._ready.set()

    def __len__(self) -> int:
        return len(self._queue)

    async def get(self, timeout_s: float | None = None) -> Event | None:
        """The next event, a ``lagged`` notice first if events were dropped; None on timeout."""
        while not self._queue and not self.dropped:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return None
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            return Event(LAGGED, {"dropped": dropped})
        return self._queue.popleft()


class EventHub:
    """In-process fan-out of engine events (an ``EventSink``); ``publish`` never blocks."""

    def __init__(
        self,
        *,
        queue_limit: int = 1000,
        history_limit: int = 200,
        max_histories: int = 1000,
        keepalive_s: float = 15.0,
    ) -> None:
        self.queue_limit = queue_limit
        self.history_limit = history_limit
        self.max_histories = max_histories
        self.keepalive_s = keepalive_s
        self._subscribers: set[Subscription] = set()
        # execution id → its events so far, for executions still running
        self._history: OrderedDict[str, deque[Event]] = OrderedDict()

    def emit(self, event: str, data: Mapping[str, Any]) -> None:
        self.publish(Event(event, data))

    def publish(self, event: Event) -> None:
        self._remember(event)
        for sub in self._subscribers:
            if sub.wants(event):
                sub.put(event)

    def _remember(self, event: Event) -> None:
        eid = event.execution_id
        if eid is None:
            return
        if event.name in (FINISHED, WAITING):  # ended, or parked: nothing runs any more
            self._history.pop(eid, None)
            return
        history = self._history.get(eid)
        if history is None:
            if event.name != STARTED:
                return
            history = self._history[eid] = deque(maxlen=self.history_limit)
            while len(self._history) > self.max_histories:
                self._history.popitem(last=False)
        history.append(event)

    def subscribe(self, execution_id: str | None = None) -> Subscription:
        """A new subscription; for one execution it starts with that execution's events so far."""
        sub = Subscription(execution_id, self.queue_limit)
        if execution_id is not None:
            for event in self._history.get(execution_id, ()):
                sub.put(event)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
