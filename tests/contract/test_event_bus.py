"""The event bus contract, on the in-process bus and on Redis pub/sub.

``make_bus`` builds another bus of the same world: buses sharing a ``MemoryHub``, or Redis buses
sharing this test's prefix, behave like one bus per process. A negative check ("did not arrive")
always waits for a later message first: one publisher's messages arrive in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from relayflow.cluster.bus_memory import MemoryEventBus, MemoryHub
from relayflow.cluster.bus_redis import RedisEventBus
from relayflow.cluster.ports import EventBus
from tests.contract.redis_support import eventually, redis_prefix, require_redis

MakeBus = Callable[[], Awaitable[EventBus]]
Got = list[tuple[str, dict[str, Any]]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    buses: list[EventBus] = []
    if request.param == "memory":
        hub = MemoryHub()

        async def make() -> EventBus:
            buses.append(MemoryEventBus(hub))
            return buses[-1]

        yield make
    else:
        url = require_redis()
        async with redis_prefix() as prefix:

            async def make() -> EventBus:
                buses.append(RedisEventBus(url, prefix=prefix))
                return buses[-1]

            yield make
            for bus in buses:
                await bus.close()
            return
    for bus in buses:
        await bus.close()


def recorder(got: Got) -> Callable[[str, Mapping[str, Any]], None]:
    def handler(channel: str, message: Mapping[str, Any]) -> None:
        got.append((channel, dict(message)))

    return handler


async def test_a_subscriber_receives_what_is_published(make_bus: MakeBus) -> None:
    bus = await make_bus()
    got: Got = []
    await bus.subscribe("events.exec-1", recorder(got))
    await bus.publish("events.exec-1", {"type": "nodeFinished", "node": "Set", "n": 1, "data": [1, "x"]})
    await eventually(lambda: len(got) == 1, "the message")
    assert got == [("events.exec-1", {"type": "nodeFinished", "node": "Set", "n": 1, "data": [1, "x"]})]


async def test_glob_patterns_match_whole_channel_names(make_bus: MakeBus) -> None:
    bus = await make_bus()
    star: Got = []
    one: Got = []
    await bus.subscribe("events.*", recorder(star))
    await bus.subscribe("events.?", recorder(one))
    for channel in ("events.a", "other.a", "events.long", "xevents.b", "events.b"):
        await bus.publish(channel, {"c": channel})
    await eventually(lambda: len(star) == 3 and len(one) == 2, "the matching messages")
    assert [c for c, _ in star] == ["events.a", "events.long", "events.b"]
    assert [c for c, _ in one] == ["events.a", "events.b"]


async def test_several_subscribers_each_get_every_message_in_order(make_bus: MakeBus) -> None:
    bus = await make_bus()
    first: Got = []
    second: Got = []
    exact: Got = []
    await bus.subscribe("run.*", recorder(first))
    await bus.subscribe("run.*", recorder(second))
    await bus.subscribe("run.1", recorder(exact))
    for i in range(20):
        await bus.publish("run.1", {"i": i})
    await eventually(lambda: len(first) == len(second) == len(exact) == 20, "20 messages each")
    assert [m["i"] for _, m in first] == list(range(20))
    assert first == second == exact


async def test_two_buses_see_each_others_messages(make_bus: MakeBus) -> None:
    api, worker = await make_bus(), await make_bus()
    at_api: Got = []
    at_worker: Got = []
    await api.subscribe("events.*", recorder(at_api))
    await worker.subscribe("wake.*", recorder(at_worker))
    await worker.publish("events.e1", {"status": "succeeded"})
    await api.publish("wake.w1", {"why": "timer"})
    await eventually(lambda: at_api and at_worker, "both directions")
    assert at_api == [("events.e1", {"status": "succeeded"})]
    assert at_worker == [("wake.w1", {"why": "timer"})]


async def test_async_handlers_and_a_failing_handler_does_not_stop_the_others(make_bus: MakeBus) -> None:
    bus = await make_bus()
    got: Got = []

    def broken(channel: str, message: Mapping[str, Any]) -> None:
        raise RuntimeError("handler bug")

    async def slow_ok(channel: str, message: Mapping[str, Any]) -> None:
        got.append((channel, dict(message)))

    await bus.subscribe("x", broken)
    await bus.subscribe("x", slow_ok)
    await bus.publish("x", {"n": 1})
    await bus.publish("x", {"n": 2})
    await eventually(lambda: len(got) == 2, "both messages despite the broken handler")


async def test_closing_a_subscription_stops_only_that_one(make_bus: MakeBus) -> None:
    bus = await make_bus()
    kept: Got = []
    dropped: Got = []
    sub = await bus.subscribe("t.*", recorder(dropped))
    await bus.subscribe("t.*", recorder(kept))
    await bus.publish("t.1", {"n": 1})
    await eventually(lambda: len(kept) == 1 and len(dropped) == 1, "the first message")
    await sub.close()
    await sub.close()  # twice is harmless
    await bus.publish("t.2", {"n": 2})
    await eventually(lambda: len(kept) == 2, "the second message")
    assert dropped == [("t.1", {"n": 1})]


async def test_the_last_subscription_of_a_pattern_closed_then_a_new_one(make_bus: MakeBus) -> None:
    bus = await make_bus()
    got: Got = []
    sub = await bus.subscribe("p.*", recorder(got))
    await sub.close()
    await bus.subscribe("p.*", recorder(got))
    await bus.publish("p.1", {"n": 1})
    await eventually(lambda: len(got) == 1, "the message to the new subscription")
    await bus.publish("p.2", {"n": 2})
    await eventually(lambda: len(got) == 2, "the next one, once")


async def test_a_closed_bus_delivers_nothing_and_publish_does_not_raise(make_bus: MakeBus) -> None:
    closing, other = await make_bus(), await make_bus()
    at_closing: Got = []
    at_other: Got = []
    await closing.subscribe("c.*", recorder(at_closing))
    await other.subscribe("c.*", recorder(at_other))
    await closing.close()
    await closing.close()
    await closing.publish("c.1", {"lost": True})  # dropped, never raised
    await other.publish("c.2", {"n": 2})
    await eventually(lambda: len(at_other) == 1, "the other bus's message")
    assert at_closing == []
    assert at_other == [("c.2", {"n": 2})]
    with pytest.raises(RuntimeError):
        await closing.subscribe("c.*", recorder(at_closing))


async def test_a_message_that_is_not_json_is_a_bug_and_raises(make_bus: MakeBus) -> None:
    bus = await make_bus()
    with pytest.raises(TypeError):
        await bus.publish("x", {"when": object()})


async def test_handlers_get_their_own_copy(make_bus: MakeBus) -> None:
    bus = await make_bus()
    seen: list[Mapping[str, Any]] = []

    def mutate(channel: str, message: Mapping[str, Any]) -> None:
        seen.append(message)
        message["items"].append("mutated")

    await bus.subscribe("m", mutate)
    await bus.subscribe("m", mutate)
    original = {"items": [1]}
    await bus.publish("m", original)
    await eventually(lambda: len(seen) == 2, "both deliveries")
    assert original == {"items": [1]}
    assert [m["items"] for m in seen] == [[1, "mutated"], [1, "mutated"]]


@pytest.mark.services
async def test_redis_buses_under_other_prefixes_are_isolated() -> None:
    url = require_redis()
    async with redis_prefix() as p1, redis_prefix() as p2:
        a, b = RedisEventBus(url, prefix=p1), RedisEventBus(url, prefix=p2)
        try:
            at_a: Got = []
            at_b: Got = []
            await a.subscribe("*", recorder(at_a))
            await b.subscribe("*", recorder(at_b))
            await b.publish("only.b", {"n": 1})
            await a.publish("only.a", {"n": 2})
            await eventually(lambda: at_a and at_b, "each bus's own message")
            assert at_a == [("only.a", {"n": 2})]
            assert at_b == [("only.b", {"n": 1})]
            assert a.healthy and b.healthy and a.dropped == 0
        finally:
            await a.close()
            await b.close()
