"""Wait: time intervals and specific times sleep through the (fake) clock; items pass through."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.engine.memory import FakeClock
from relayflow.errors import WorkflowInvalid
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node

ITEMS = [{"n": 1}, {"n": 2}]


async def wait(params: dict[str, Any], *, type_: str = "relayflow.wait", version: float = 1) -> list[float]:
    """Run the Wait node on ITEMS; return the sleeps it asked for (items must pass through)."""
    engine = make_engine(fake_clock=True)
    out = await run_node(type_, params, ITEMS, type_version=version, engine=engine)
    assert output_json(out) == ITEMS
    clock = engine.services.clock
    assert isinstance(clock, FakeClock)
    return clock.sleeps


@pytest.mark.parametrize(
    ("params", "seconds"),
    [
        ({}, 5),
        ({"amount": 2}, 2),
        ({"amount": 2, "unit": "minutes"}, 120),
        ({"amount": 1.5, "unit": "hours"}, 5400),
        ({"amount": 1, "unit": "days"}, 86400),
        ({"amount": 0}, None),  # nothing to wait for: no sleep at all
    ],
)
async def test_time_interval_sleeps_once_for_the_whole_node(
    params: dict[str, Any], seconds: float | None
) -> None:
    assert await wait(params) == ([] if seconds is None else [seconds])


@pytest.mark.parametrize(
    ("version", "params", "seconds"),
    [
        (1, {}, 3600),  # v1: 1 hour unless told otherwise
        (1, {"amount": 5, "unit": "seconds"}, 5),
        (1, {"amount": 2}, 7200),
        (1.1, {}, 5),  # v1.1: 5 seconds
        (1.1, {"amount": 30}, 30),
        (1.1, {"unit": "minutes"}, 300),
    ],
)
async def test_n8n_defaults_differ_per_version(
    version: float, params: dict[str, Any], seconds: float
) -> None:
    assert await wait(params, type_="n8n-nodes-base.wait", version=version) == [seconds]


@pytest.mark.parametrize(
    ("when", "seconds"),
    [
        ("2024-01-01T01:00:00Z", 3600),
        ("2024-01-01T00:00:30", 30),  # naive: UTC
        ("2024-01-01T02:00:00+01:00", 3600),
        ("2023-12-31T00:00:00Z", None),  # in the past: go on at once
    ],
)
async def test_specific_time_sleeps_until_then(when: str, seconds: float | None) -> None:
    # the fake clock starts at 2024-01-01T00:00:00Z
    sleeps = await wait({"resume": "specificTime", "dateTime": when})
    assert sleeps == ([] if seconds is None else [seconds])


async def test_items_are_new_dicts_paired_to_their_input() -> None:
    items = [{"json": {"n": 1}}, {"json": {"n": 2}}]
    out = await run_node("relayflow.wait", {"amount": 0}, items, engine=make_engine(fake_clock=True))
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 1}]
    assert items == [{"json": {"n": 1}}, {"json": {"n": 2}}]


async def test_a_bad_date_fails_naming_the_field() -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run_node("relayflow.wait", {"resume": "specificTime", "dateTime": "next tuesday"})
    assert info.value.error["code"] == "parameter_invalid"
    assert "'dateTime' 'next tuesday' is not a date" in info.value.error["message"]


async def test_a_missing_date_fails_clearly() -> None:
    with pytest.raises(NodeRunFailed, match="no date and time"):
        await run_node("relayflow.wait", {"resume": "specificTime"})


@pytest.mark.parametrize("resume", ["webhook", "form"])
async def test_resume_by_webhook_or_form_needs_the_server(resume: str) -> None:
    with pytest.raises(
        NodeRunFailed, match=rf"resume by {resume} needs the server \(relayflow start\)"
    ) as info:
        await run_node("n8n-nodes-base.wait", {"resume": resume, "httpMethod": "POST"}, type_version=1.1)
    assert info.value.error["node"] == "Node"


async def test_negative_amounts_are_refused_at_load_time() -> None:
    with pytest.raises(WorkflowInvalid, match="amount"):
        await run_node("relayflow.wait", {"amount": -1})


async def test_webhook_resume_shapes_validate() -> None:
    params = {
        "resume": "webhook",
        "httpMethod": "POST",
        "responseMode": "lastNode",
        "limitWaitTime": True,
        "limitType": "afterTimeInterval",
        "resumeAmount": 5,
        "resumeUnit": "seconds",
        "options": {},
    }
    with pytest.raises(NodeRunFailed, match="needs the server"):
        await run_node("n8n-nodes-base.wait", params, type_version=1.1)
